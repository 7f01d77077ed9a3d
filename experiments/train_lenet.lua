-- train_lenet.lua — trains data/lenet_fmnist.h5 (LeNet-5, test accuracy >= 89%)
-- or, with label_permutation=true, data/lenet_fmnist_permuted.h5 (the same
-- architecture fitted to randomly permuted training labels, for the data
-- randomization test of Adebayo et al. 2018).
--   bin/sanity run experiments/train_lenet.lua [epochs=15] [seed=0] [out=...]
--   bin/sanity run experiments/train_lenet.lua label_permutation=true
local dir = debug.getinfo(1, "S").source:match("^@(.*)/") or "."
local fit = dofile(dir .. "/train_common.lua")
local permuted = cfg.label_permutation == true
-- Permuted labels are memorized, not learned: LeNet's 61k parameters fit
-- 10000 random labels (to ~97%) in 100 epochs of small batches; all 60000
-- would take far longer. The test accuracy stays at chance.
fit("lenet", permuted and {
  epochs = 100, n = 10000, optimizer = "adam", lr = 1e-3, batch_size = 32, schedule = "cosine",
  label_permutation = true, out = "data/lenet_fmnist_permuted.h5",
} or {
  epochs = 15, optimizer = "adam", lr = 2e-3, batch_size = 128, schedule = "cosine",
  out = "data/lenet_fmnist.h5",
})
