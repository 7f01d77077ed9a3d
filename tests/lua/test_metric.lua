-- test_metric.lua — the metric module from Lua: similarities on batches,
-- the dispatcher, statistics on tensors and Lua arrays, and bad inputs.
-- (Values against scipy/skimage are checked in tests/unit/test_metric.c.)
local T = require "sanity.test"

local function batch(rows) return tensor.from(rows) end

T.case("correlations on hand-made maps", function()
  local a = batch{{1, 2, 3, 4}, {4, 1, 3, 2}, {5, 5, 5, 5}}
  local b = batch{{2, 4, 6, 8}, {1, 4, 2, 3}, {1, 2, 3, 4}}
  local s = metric.spearman(a, b)
  T.eq(s:numel(), 3)
  T.near(s[1], 1, 1e-7)
  T.near(s[2], -1, 1e-7)
  T.eq(s[3], 0)                                    -- constant map: 0, not NaN
  T.near(metric.pearson(a, b)[1], 1, 1e-6)
  T.eq(metric.pearson(a, b)[3], 0)
  T.near(metric.cosine(a, a), tensor.ones(3), 1e-6)
  T.eq(metric.cosine(tensor.zeros(1, 4), a:narrow(1, 1, 1))[1], 0)
  T.near(metric.mse(a, b)[1], (1 + 4 + 9 + 16) / 4, 1e-6)
  T.near(metric.mae(a, b)[1], (1 + 2 + 3 + 4) / 4, 1e-6)
  -- ties: ranks {1, 2.5, 2.5, 4} vs {4, 3, 2, 1}
  T.near(metric.spearman(batch{{1, 2, 2, 3}}, batch{{4, 3, 2, 1}})[1], -4.5 / math.sqrt(4.5 * 5), 1e-6)
end)

T.case("abs compares magnitudes", function()
  local a, b = batch{{-3, 1, -2, 4}}, batch{{3, 1, 2, 4}}
  T.ok(metric.spearman(a, b)[1] < 0.5)
  T.near(metric.spearman(a, b, {abs = true})[1], 1, 1e-7)
  T.near(metric.mse(a, b, {abs = true})[1], 0, 0)
end)

T.case("maps of any rank, one value per sample", function()
  local a = tensor.randn({6, 2, 28, 28}, {seed = 1, stream = "m"})
  local b = a + tensor.randn({6, 2, 28, 28}, {seed = 1, stream = "n"}) * 0.3
  for _, name in ipairs(metric.similarities()) do
    local opts = name == "topk_intersection" and {k = 100} or nil
    local r = metric.similarity(name, a, b, opts)
    T.eq(r:dim(), 1, name); T.eq(r:numel(), 6, name)
    T.ok(r:sum() == r:sum(), name .. " has NaN")
  end
  T.near(metric.similarity("spearman", a, b), metric.spearman(a, b), 0)
  T.near(metric.ssim(a, a), tensor.ones(6), 1e-6)
  T.near(metric.hog(a, a), tensor.ones(6), 1e-6)
  T.near(metric.topk_intersection(a, a, {k = 10}), tensor.ones(6), 0)
  T.ok(metric.ssim(a, b):mean() > 0.5)
  T.ok(metric.ssim(a, b, {data_range = 100}):mean() > metric.ssim(a, b):mean())
  local names = table.concat(metric.similarities(), ",")
  T.eq(names, "spearman,pearson,cosine,mse,mae,ssim,hog,topk_intersection")
end)

T.case("hog descriptors and options", function()
  local x = tensor.randn({3, 28, 28}, {seed = 2})
  T.eq(table.concat(metric.hog_descriptor(x):shape(), "x"), "3x81")
  local d = metric.hog_descriptor(x, {orientations = 6, pixels_per_cell = {4, 5}, cells_per_block = {2, 3},
                                      block_norm = "L1"})
  T.eq(table.concat(d:shape(), "x"), string.format("3x%d", 6 * 3 * 2 * 3 * 6))  -- blocks 6x3 of 2x3 cells, 6 bins
  T.ok(d:min() >= 0)
  local s = metric.hog(x, x * 2 + 1, {pixels_per_cell = 4, cells_per_block = 2, block_norm = "L2"})
  T.near(s, tensor.ones(3), 1e-6)                  -- HOG ignores contrast and offset
end)

T.case("top-k intersection breaks ties by index", function()
  local a = batch{{1, 1, 1, 1, 1, 1}}
  local b = batch{{-1, -1, -1, 1, 1, 1}}
  T.eq(metric.topk_intersection(a, b, {k = 3})[1], 1)
  T.near(metric.topk_intersection(batch{{3, -1, 2, 7, 0, 5}}, batch{{7, 0, 0, 6, 0, 1}}, {k = 2})[1], 0.5, 0)
end)

T.case("t-tests take tensors or arrays", function()
  local x, y = {1.1, 2.3, 2.9, 4.2, 3.3}, {2.2, 5.1, 6.3, 7.0, 9.4, 4.4}
  local r = metric.ttest_welch(x, y)
  local rt = metric.ttest_welch(tensor.from(x), tensor.from(y))
  T.near(r.t, rt.t, 1e-5); T.near(r.p, rt.p, 1e-5)
  T.ok(r.t < 0 and r.df > 4 and r.df < 9 and r.p > 0 and r.p < 0.05)
  local less = metric.ttest_welch(x, y, {alternative = "less"}).p
  local greater = metric.ttest_welch(x, y, {alternative = "greater"}).p
  T.near(less + greater, 1, 1e-12)
  T.near(r.p, 2 * math.min(less, greater), 1e-12)
  local p = metric.ttest_paired(x, {1.0, 2.0, 3.1, 4.0, 3.0})
  T.eq(p.df, 4)
  local o = metric.ttest_1samp(x, 2.76)
  T.near(o.t, 0, 1e-12); T.near(o.p, 1, 1e-12)
  local c = metric.ttest_1samp({2, 2, 2}, 1)      -- zero variance: defined, not NaN
  T.eq(c.t, math.huge); T.eq(c.p, 0)
end)

T.case("permutation test and bootstrap are keyed", function()
  local x = tensor.randn({40}, {seed = 3, stream = 1}) + 1
  local y = tensor.randn({40}, {seed = 3, stream = 2})
  local p1 = metric.permutation_test(x, y, {n = 2000, seed = 7, stream = "a"})
  T.eq(metric.permutation_test(x, y, {n = 2000, seed = 7, stream = "a"}), p1)
  T.ok(p1 < 0.05 and p1 >= 1 / 2001)
  local pg = metric.permutation_test(x, y, {n = 2000, seed = 7, stream = "a", alternative = "greater"})
  T.ok(pg < p1)
  T.ok(metric.permutation_test(x, y, {n = 2000, seed = 7, alternative = "less"}) > 0.9)
  T.ok(metric.permutation_test(x, x, {n = 500, paired = true}) == 1)   -- all differences 0
  local lo, hi = metric.bootstrap_ci(x, {n = 2000, seed = 1})
  T.ok(lo < x:mean() and x:mean() < hi)
  local lo2, hi2 = metric.bootstrap_ci(x, {n = 2000, seed = 1, level = 0.5})
  T.ok(lo2 > lo and hi2 < hi)
  local mlo, mhi = metric.bootstrap_ci({1, 2, 3, 4, 5, 6, 7, 8, 9}, {n = 1000, statistic = "median", seed = 2})
  T.ok(mlo >= 1 and mhi <= 9 and mlo <= 5 and mhi >= 5)
end)

T.case("bad inputs raise clear errors", function()
  local a, b = tensor.zeros(2, 28, 28), tensor.zeros(2, 28, 27)
  T.errors(function() metric.spearman(a, b) end, "metric.spearman", "[2, 28, 28]", "[2, 28, 27]")
  T.errors(function() metric.similarity("pearsn", a, a) end, "unknown similarity 'pearsn'", "spearman, pearson",
           "topk_intersection")
  T.errors(function() metric.topk_intersection(a, a, {k = 0}) end, "k = 0", "1..784")
  T.errors(function() metric.topk_intersection(a, a, {k = 785}) end, "1..784")
  T.errors(function() metric.topk_intersection(a, a) end, "option 'k'", "required")
  T.errors(function() metric.similarity("topk_intersection", a, a, {k = 2.5}) end, "option 'k'", "integer")
  T.errors(function() metric.ssim(tensor.zeros(2, 8, 8), tensor.zeros(2, 8, 8)) end, "metric.ssim", "8x8",
           "11x11")
  T.errors(function() metric.ssim(tensor.zeros(2, 784), tensor.zeros(2, 784)) end, "[N, H, W]", "[2, 784]")
  T.errors(function() metric.ssim(a, a, {data_range = -1}) end, "data_range", "positive")
  T.errors(function() metric.hog(tensor.zeros(2, 16, 16), tensor.zeros(2, 16, 16)) end, "metric.hog", "16x16",
           "24x24")
  T.errors(function() metric.hog_descriptor(tensor.zeros(1, 28, 28), {pixels_per_cell = 10}) end, "30x30")
  T.errors(function() metric.hog(a, a, {block_norm = "L3"}) end, "block_norm", "L1, L1-sqrt, L2, L2-Hys")
  T.errors(function() metric.hog(a, a, {pixels_per_cell = {8}}) end, "pixels_per_cell", "{rows, cols}")
  T.errors(function() metric.spearman(a, a, {ab = true}) end, "unknown option 'ab'", "abs")
  T.errors(function() metric.spearman(tensor.zeros(4), tensor.zeros(4)) end, "at least 2 dimensions")
  T.errors(function() metric.spearman(a, "x") end, "Tensor expected")
  local nan = tensor.zeros(3, 4)
  nan[2][3] = 0 / 0
  T.errors(function() metric.pearson(nan, tensor.ones(3, 4)) end, "NaN or Inf", "sample 1 (0-based)")
  T.errors(function() metric.ttest_welch({1, 2}, {3, 4}, {alternative = "sideways"}) end, "unknown value 'sideways'",
           "two-sided, less, greater")
  T.errors(function() metric.ttest_welch({1}, {3, 4}) end, "#1", "at least 2 values")
  T.errors(function() metric.ttest_paired({1, 2, 3}, {3, 4}) end, "same length", "3 and 2")
  T.errors(function() metric.ttest_1samp({1, "x", 3}, 0) end, "entry 2 is not a number")
  T.errors(function() metric.ttest_1samp({1, 0 / 0, 3}, 0) end, "entry 2 is NaN or Inf")
  T.errors(function() metric.ttest_1samp(tensor.zeros(2, 2), 0) end, "1-D tensor expected", "[2, 2]")
  T.errors(function() metric.ttest_1samp(5, 0) end, "tensor or array of numbers expected")
  T.errors(function() metric.permutation_test({1, 2}, {3, 4}, {n = 0}) end, "option 'n'", "1..1e8")
  T.errors(function() metric.permutation_test({1, 2}, {3, 4}, {statistic = "median"}) end, "mean_diff")
  T.errors(function() metric.permutation_test({1, 2}, {}, {}) end, "#2", "at least 1 values")
  T.errors(function() metric.permutation_test({1, 2, 3}, {3, 4}, {paired = true}) end, "same length")
  T.errors(function() metric.bootstrap_ci({1, 2}, {n = -5}) end, "option 'n'")
  T.errors(function() metric.bootstrap_ci({1, 2}, {level = 1.5}) end, "option 'level'", "(0, 1)")
  T.errors(function() metric.bootstrap_ci({1, 2}, {statistic = "mode"}) end, "mean, median")
  local freed
  do
    local t <close> = tensor.zeros(2, 4)
    freed = t
  end
  T.errors(function() metric.spearman(freed, freed) end, "freed")
end)

T.done()
