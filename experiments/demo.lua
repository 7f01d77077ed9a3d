--@keys n methods similarities order mode level stop_layer model
-- demo.lua — the main job: cascading MPRT (Adebayo et al. 2018) on the
-- bundled trained LeNet and 256 Fashion-MNIST test images, for gradient,
-- integrated gradients and guided backprop plus the Sobel edge baseline;
-- prints the summary tables and writes every array to the results file.
--   bin/sanity run experiments/demo.lua --out results/demo.h5 [n=256] [mode=noise level=0.5]
local mprt = require "sanity.mprt"
local root = sanity.scripts_dir .. "/.."
local m = model.load(cfg.model or (root .. "/data/lenet_fmnist.h5"))
local x, y = data.fashion_mnist{split = "test", n = cfg.n or 256}
mprt.run{
  model = m, x = x, y = y, label = cfg.model and cfg.model:match("([^/]+)%.h5$") or "lenet_fmnist",
  methods = cfg.methods or {"gradient", "integrated_gradients", "guided_backprop", "sobel"},
  method_opts = {integrated_gradients = {steps = 32}},
  similarities = cfg.similarities or {"spearman_abs", "spearman", "ssim"},
  order = cfg.order, stop_layer = cfg.stop_layer, mode = cfg.mode, level = cfg.level,
  results = results.open(),
}
