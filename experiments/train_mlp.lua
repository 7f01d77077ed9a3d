-- train_mlp.lua — trains data/mlp_fmnist.h5 (784-256-128-10, test accuracy >= 88%).
--   bin/sanity run experiments/train_mlp.lua [epochs=15] [seed=0] [out=...]
local dir = debug.getinfo(1, "S").source:match("^@(.*)/") or "."
local fit = dofile(dir .. "/train_common.lua")
fit("mlp", {
  epochs = 15, optimizer = "adam", lr = 1e-3, batch_size = 128, schedule = "cosine",
  out = "data/mlp_fmnist.h5",
})
