-- train_resnet.lua — trains data/resnet8_fmnist.h5 (ResNet-8 with batch norm,
-- test accuracy >= 91%) with SGD + Nesterov momentum and a cosine schedule.
--   bin/sanity run experiments/train_resnet.lua [epochs=12] [seed=0] [out=...]
local dir = debug.getinfo(1, "S").source:match("^@(.*)/") or "."
local fit = dofile(dir .. "/train_common.lua")
fit("resnet8", {
  epochs = 12, optimizer = "sgd", lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 5e-4,
  batch_size = 128, schedule = "cosine", out = "data/resnet8_fmnist.h5",
})
