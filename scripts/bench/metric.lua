-- bench/metric.lua — time of the batched similarity measures on 256 maps of
-- 28x28 (the MPRT demo's batch), per call.
--   bin/sanity run scripts/bench/metric.lua --threads 2 [n=256 size=28]
-- os.clock() is process CPU time, summed over threads; wall time comes from
-- os.time() over enough repetitions to span a few seconds (1 s resolution).
local n, size = cfg.n or 256, cfg.size or 28
local a = tensor.randn({n, size, size}, {seed = 1, stream = "bench.a"})
local b = a + tensor.randn({n, size, size}, {seed = 1, stream = "bench.b"}) * 0.5

local function bench(name, fn)
  fn() -- warm up
  local reps, c0, t0 = 0, os.clock(), os.time()
  repeat
    for _ = 1, 20 do fn() end
    reps = reps + 20
  until os.time() - t0 >= 3
  local cpu, wall = (os.clock() - c0) / reps, (os.time() - t0) / reps
  print(string.format("%-24s %8.3f ms wall  %8.3f ms cpu  (%d reps)", name, wall * 1e3, cpu * 1e3, reps))
end

print(string.format("metric on %d maps of %dx%d, %d thread(s)", n, size, size, sanity.threads))
bench("spearman", function() return metric.spearman(a, b) end)
bench("spearman abs", function() return metric.spearman(a, b, {abs = true}) end)
bench("pearson", function() return metric.pearson(a, b) end)
bench("ssim", function() return metric.ssim(a, b) end)
bench("hog", function() return metric.hog(a, b) end)
bench("topk_intersection k=78", function() return metric.topk_intersection(a, b, {k = 78}) end)
-- statistics on 256 scores per group (e.g. one similarity per sample)
local x, y = a:view(-1):narrow(1, 256), b:view(-1):narrow(1, 256)
bench("permutation_test n=1e4", function() return metric.permutation_test(x, y, {seed = 1}) end)
bench("bootstrap_ci n=1e4", function() return metric.bootstrap_ci(x, {seed = 1}) end)
bench("ttest_welch", function() return metric.ttest_welch(x, y) end)
