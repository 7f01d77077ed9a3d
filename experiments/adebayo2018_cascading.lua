--@keys n n_resnet methods similarities resnet
-- adebayo2018_cascading.lua — the sanity checks of Adebayo et al. (2018) on
-- the bundled LeNet and ResNet-8 and Fashion-MNIST test images:
--   1. cascading randomization, top-down (LeNet: every layer; ResNet-8: its
--      conv and linear layers, batch norm kept trained),
--   2. independent randomization (LeNet),
--   3. the data randomization test (LeNet vs LeNet trained on permuted labels),
-- for gradient, gradient x input, integrated gradients, SmoothGrad, VarGrad,
-- guided backprop, Grad-CAM, guided Grad-CAM and the Sobel / input / random
-- baselines; Spearman (on |map| and raw), SSIM and HOG similarity.
--   bin/sanity run experiments/adebayo2018_cascading.lua --out results/adebayo2018.h5 [n=128] [n_resnet=64] [resnet=false]
-- Expected (paper): gradient, IG and Grad-CAM similarity falls toward 0 as
-- layers are randomized; guided backprop stays high; Sobel stays at 1.
local mprt = require "sanity.mprt"
local root = sanity.scripts_dir .. "/.."
local f = results.open()
local methods = cfg.methods or {"gradient", "input_x_gradient", "integrated_gradients", "smoothgrad", "vargrad",
                                "guided_backprop", "gradcam", "guided_gradcam", "sobel", "input", "random"}
local similarities = cfg.similarities or {"spearman_abs", "spearman", "ssim", "hog"}
local method_opts = {integrated_gradients = {steps = 32}, smoothgrad = {n = 50}, vargrad = {n = 50}}
local P = require "sanity.protocol"
local function run(protocol, opts)
  local common = {methods = methods, method_opts = method_opts, similarities = similarities, results = f}
  return require(protocol).run(P.merged(common, opts))
end

local lenet = model.load(root .. "/data/lenet_fmnist.h5")
local x, y = data.fashion_mnist{split = "test", n = cfg.n or 128}
run("sanity.mprt", {model = lenet, x = x, y = y, label = "lenet_fmnist", group = "lenet/cascade"})
run("sanity.mprt", {model = lenet, x = x, y = y, label = "lenet_fmnist", group = "lenet/independent",
                    order = "independent"})
run("sanity.data_randomization", {model = lenet, permuted_model = root .. "/data/lenet_fmnist_permuted.h5",
                                  x = x, y = y, label = "lenet_fmnist", group = "lenet/data_randomization"})
if cfg.resnet ~= false then
  local resnet = model.load(root .. "/data/resnet8_fmnist.h5")
  local xr, yr = data.fashion_mnist{split = "test", n = cfg.n_resnet or 64}
  run("sanity.mprt", {model = resnet, x = xr, y = yr, label = "resnet8_fmnist", group = "resnet8/cascade",
                      types = {"conv2d", "linear"}})
end
