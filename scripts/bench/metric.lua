-- bench/metric.lua — time of the batched similarity measures on 256 maps of
-- 28x28 (the MPRT demo's batch), per call.
--   bin/sanity run scripts/bench/metric.lua --threads 2 [n=256 size=28]
-- os.clock() is process CPU time, summed over threads; wall time is counted
-- against os.time() (1 s ticks) over 2 s per measure.
local n, size = cfg.n or 256, cfg.size or 28
local a = tensor.randn({n, size, size}, {seed = 1, stream = "bench.a"})
local b = a + tensor.randn({n, size, size}, {seed = 1, stream = "bench.b"}) * 0.5

-- CPU: best of 7 trials (other processes add noise). Wall: calls made
-- between two ticks of os.time() 2 s apart, starting on a tick, so the error
-- is at most one call.
local function bench(name, fn)
  fn() -- warm up
  local c = os.clock()
  fn()
  local reps = math.max(1, math.floor(0.2 / math.max(os.clock() - c, 1e-6)))
  local best = math.huge
  for _ = 1, 7 do
    c = os.clock()
    for _ = 1, reps do fn() end
    best = math.min(best, (os.clock() - c) / reps)
  end
  local t0 = os.time()
  while os.time() == t0 do end
  t0 = os.time()
  local calls = 0
  while os.time() - t0 < 2 do
    fn()
    calls = calls + 1
  end
  print(string.format("%-24s %9.3f ms wall %9.3f ms cpu", name, 2e3 / calls, best * 1e3))
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
