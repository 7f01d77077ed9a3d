-- Runs a small MPRT + eMPRT + random-logit on a seeded LeNet and writes cfg.out
-- (used by test_protocols.lua to compare files across threads and batch sizes).
local models = require "sanity.models"
local m = models.lenet{seed = 11}
local x, y = data.fashion_mnist{n = cfg.n or 24}
local f = results.open()
local common = {model = m, x = x, y = y, results = f, quiet = true, batch_size = cfg.batch_size or 256,
                methods = {"gradient", "input_x_gradient"}}
local function with(t) local o = {} for k, v in pairs(common) do o[k] = v end for k, v in pairs(t) do o[k] = v end return o end
require("sanity.mprt").run(with{similarities = {"spearman_abs", "ssim", "hog"}, stop_layer = 0.6})
require("sanity.smprt").run(with{nr_samples = 3, stop_layer = 2})
require("sanity.emprt").run(with{})
require("sanity.random_logit").run(with{})
