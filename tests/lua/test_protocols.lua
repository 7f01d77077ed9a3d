-- test_protocols.lua — MPRT, sMPRT, eMPRT, random logit and data
-- randomization: properties that must hold, results layout, determinism
-- across threads and batch sizes, and bad options.
local T = require "sanity.test"
local models = require "sanity.models"
local mprt = require "sanity.mprt"

local m = models.lenet{seed = 5}
local x, y = data.fashion_mnist{n = 16}

T.case("noise of level 0 leaves every explanation unchanged: similarity exactly 1", function()
  local r = mprt.run{model = m, x = x, y = y, methods = {"gradient", "input_x_gradient"}, mode = "noise",
                     level = 0, similarities = {"spearman_abs", "spearman", "pearson", "ssim", "hog"}, quiet = true}
  T.eq(r.scores:min(), 1); T.eq(r.scores:max(), 1)
  T.eq(table.concat(r.steps, ","), "original,fc3,fc2,fc1,conv2,conv1")
end)

T.case("model-blind baselines: sobel and input score 1 at every step, random about 0", function()
  local lenet = model.load(sanity.scripts_dir .. "/../data/lenet_fmnist.h5")
  local r = mprt.run{model = lenet, x = x, y = y, methods = {"sobel", "input", "random"},
                     similarities = {"spearman_abs", "spearman", "ssim", "hog"}, quiet = true}
  for mi = 1, 2 do T.eq(r.scores[mi]:min(), 1, r.methods[mi]); T.eq(r.scores[mi]:max(), 1, r.methods[mi]) end
  -- fresh noise for every explanation: even "original" is uncorrelated
  T.ok(r.scores[3][1][1]:abs():mean() < 0.1, "random map")
  T.ok(r.scores[3][6][1]:abs():mean() < 0.1)
end)

T.case("cascade scores: layout, summary and p-values", function()
  local r = mprt.run{model = m, x = x, y = y, methods = {"gradient"}, similarities = {"spearman_abs"},
                     stop_layer = 2, quiet = true}
  T.eq(table.concat(r.scores:shape(), ","), "1,3,1,16")
  T.near(r.mean[1][2][1], r.scores[1][2][1]:mean(), 1e-6)
  T.ok(r.scores[1][3][1]:mean() < 0.9, "randomizing fc3 and fc2 changes gradients")
  T.ok(r.pvalue[1][1] < 1e-3)
  -- skip_layers (Quantus): only the fully randomized step
  local s = mprt.run{model = m, x = x, y = y, similarities = {"spearman_abs"}, stop_layer = 2, skip_layers = true,
                     quiet = true}
  T.eq(table.concat(s.steps, ","), "original,fc2")
  T.ok(s.scores[1][2]:equal(r.scores[1][3]), "the last step is the same model either way")
end)

T.case("independent randomization differs from the cascade after step 1", function()
  local c = mprt.run{model = m, x = x, y = y, stop_layer = 3, similarities = {"spearman"}, quiet = true}
  local i = mprt.run{model = m, x = x, y = y, stop_layer = 3, order = "independent", similarities = {"spearman"},
                     quiet = true}
  T.ok(c.scores[1][2]:equal(i.scores[1][2]), "step 1 is the same single layer")
  T.ok(not c.scores[1][3]:equal(i.scores[1][3]))
end)

T.case("data randomization of a model against itself is 1; random logit picks other classes", function()
  local dr = require("sanity.data_randomization").run{model = m, permuted_model = m:clone(), x = x, y = y,
                                                        similarities = {"spearman", "ssim"}, quiet = true}
  T.eq(dr.scores:min(), 1)
  local rl = require("sanity.random_logit").run{model = m, x = x, y = y, quiet = true}
  T.eq((rl.off_class - y):abs():min() >= 1, true)
  T.ok(rl.off_class:min() >= 0 and rl.off_class:max() <= 9)
  local xs, ys = data.fashion_mnist{n = 2000}
  local off = require("sanity.random_logit").run{model = nn.sequential({nn.flatten(), nn.linear(784, 10)},
    {input_shape = {1, 28, 28}}), x = xs, y = ys, quiet = true, similarities = {"mse"}}.off_class
  for c = 0, 9 do -- each class drawn about 2000/10 times
    local hits = (off - c):abs():clamp(0, 1):neg():add_(1):sum()
    T.ok(hits > 140 and hits < 260, "class " .. c .. " drawn " .. hits .. " times")
  end
end)

T.case("eMPRT: ratio and rise; a constant map gives ratio 1", function()
  local e = require("sanity.emprt").run{model = m, x = x, y = y, methods = {"gradient"}, quiet = true}
  T.eq(table.concat(e.complexity:shape(), ","), "1,2,16")
  T.near(e.ratio[1], e.complexity[1][2] / e.complexity[1][1], 1e-6)
  T.near(e.rise[1], e.ratio[1] - 1, 1e-7)
  T.ok(e.model_ratio:min() > 0)
  -- a model with zero weights explains with all-zero gradients: H = 0 -> ratio 1
  local zero = randomize.clone(m, randomize.layers(m), {mode = "zero"})
  local z = require("sanity.emprt").run{model = zero, x = x, y = y, quiet = true}
  T.eq(z.ratio:min(), 1); T.eq(z.ratio:max(), 1)
end)

T.case("same seed: bit-identical results for 1 and 2 threads and two batch sizes", function()
  local files = {}
  for i, args in ipairs{"--threads 1", "--threads 2", "--threads 2 batch_size=5"} do
    files[i] = os.tmpname() .. ".h5"
    local status, _, err = T.sanity("run tests/lua/helpers/mprt_run.lua --seed 3 --out " .. files[i] .. " " .. args)
    T.eq(status, 0, err)
  end
  local names = results.list(files[1])
  T.ok(#names > 20)
  for _, name in ipairs(names) do
    local a = results.read(files[1], name)
    for i = 2, 3 do
      local b = results.read(files[i], name)
      if tensor.is_tensor(a) then T.ok(a:equal(b), name .. " differs in run " .. i)
      else T.eq(table.concat(a, ","), table.concat(b, ","), name) end
    end
  end
  for _, f in ipairs(files) do os.remove(f) end
end)

T.case("bad options list what is valid", function()
  T.errors(function() mprt.run{model = m, x = x, methods = {"gradient", "gradcam9"}} end,
    "unknown attribution method 'gradcam9'", "gradcam, gradient,", "integrated_gradients")
  T.errors(function() mprt.run{model = m, x = x, similarities = {"kendall"}} end,
    "unknown similarity 'kendall'", "spearman_abs")
  T.errors(function() mprt.run{model = m, x = x, order = "inside_out"} end, "top_down, bottom_up, independent")
  T.errors(function() mprt.run{model = m, x = x, stop_layer = 1.5} end, "outside (0, 1]")
  T.errors(function() mprt.run{model = m, x = x, stop_layer = 9} end, "out of range")
  T.errors(function() mprt.run{model = m, x = x, stop_layer = "pool1"} end, "not a randomizable layer", "fc3")
  T.errors(function() mprt.run{model = m, x = x, stop_layr = 1} end, "unknown option 'stop_layr'", "stop_layer")
  T.errors(function() mprt.run{x = x} end, "'model'")
  T.errors(function() mprt.run{model = m} end, "'x'")
  T.errors(function() require("sanity.smprt").run{model = m, x = x, nr_samples = 0} end, "nr_samples must be an integer >= 1")
  T.errors(function() require("sanity.emprt").run{model = m, x = x, bins = 0} end, "bins")
  T.errors(function() require("sanity.data_randomization").run{model = m, x = x} end, "permuted_model")
  local flat = nn.sequential({nn.flatten(), nn.relu()}, {input_shape = {1, 28, 28}})
  T.errors(function() mprt.run{model = flat, x = x} end, "no randomizable layers")
end)

T.case("Quantus and Xplique option names are accepted", function()
  local a = mprt.run{model = m, x = x, y = y, layer_order = "bottom_up", similarity_func = {"spearman"},
                     stop_layer = 2, quiet = true}
  T.eq(table.concat(a.steps, ","), "original,conv1,conv2")
  local b = mprt.run{model = m, x = x, y = y, reverse = true, similarities = "spearman", stop_layer = 2, quiet = true}
  T.ok(a.scores:equal(b.scores))
end)

T.done()
