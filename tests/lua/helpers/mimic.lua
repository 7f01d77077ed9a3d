--@keys noise stop_layer methods sleep fail
-- mimic.lua — stands in for a randomization protocol (MPRT) in the sweep,
-- resume, merge and plot tests: per method, one unit for the original
-- explanation and one per randomization step, every number drawn from
-- (cfg.seed, purpose, method, step), assembled into the layout the
-- protocols write:
--   /mprt/scores              [method, step, measure, sample]
--   /mprt/maps/original       [method, example, channel, y, x]
--   /mprt/maps/randomized     [method, step, example, channel, y, x]
--   /mprt/maps/input          [example, channel, y, x]
-- cfg: noise (scale of the score drift), stop_layer (number of steps),
-- methods (list), sleep (seconds per unit, for kill tests), fail (a step
-- that raises, for failure tests).
local noise = cfg.noise or 0.1
local nsteps = cfg.stop_layer or 3
local methods = cfg.methods or {"gradient", "ig"}
if type(methods) == "string" then methods = {methods} end
local layers = {"fc2", "fc1", "conv2", "conv1", "embed"}
local measures = {"spearman_abs", "ssim"}
local nsample, nex, C, H, W = 8, 2, 1, 6, 6

local f = results.open()
local p <close> = sanity.progress{total = #methods * (nsteps + 1), label = "mimic"}
local input = tensor.rand({nex, C, H, W}, {seed = cfg.seed, stream = rng.stream("input")})

local scores, originals, randomized = {}, {}, {}
for mi, m in ipairs(methods) do
  local o = f:unit(m .. "/original", function()
    if cfg.sleep then sanity.sleep(cfg.sleep) end
    return {map = tensor.randn({nex, C, H, W}, {seed = cfg.seed, stream = rng.stream("original", mi)}), method = m}
  end)
  assert(o.method == m, "unit values come back")
  originals[mi] = o.map
  local steps_s, steps_m = {}, {}
  for s = 1, nsteps do
    local u = f:unit(m .. "/step" .. s, function()
      if cfg.sleep then sanity.sleep(cfg.sleep) end
      if cfg.fail == s then error("mimic: failing at step " .. s .. " as asked") end
      local drift = tensor.randn({#measures, nsample}, {seed = cfg.seed, stream = rng.stream("score", mi, s)})
      local score = (drift * noise - 0.2 * s):tanh() * 0.5 + 0.5
      local map = o.map * (1 - s / (nsteps + 1))
        + tensor.randn({nex, C, H, W}, {seed = cfg.seed, stream = rng.stream("map", mi, s)}) * (s * noise)
      return {score = score, map = map, step = s}
    end)
    assert(u.step == s and math.type(u.step) == "integer")
    steps_s[s], steps_m[s] = u.score, u.map
    p:advance()
  end
  scores[mi] = tensor.stack(steps_s)
  randomized[mi] = tensor.stack(steps_m)
  p:advance()
end

local steps = {}
for s = 1, nsteps do steps[s] = layers[(s - 1) % #layers + 1] end
local samples = {}
for i = 1, nsample do samples[i] = i - 1 end
f:write("mprt/scores", tensor.stack(scores), {dims = {"method", "step", "measure", "sample"},
  coords = {method = methods, step = steps, measure = measures, sample = samples}})
f:write("mprt/maps/original", tensor.stack(originals), {dims = {"method", "example", "channel", "y", "x"},
  coords = {method = methods}})
f:write("mprt/maps/randomized", tensor.stack(randomized),
  {dims = {"method", "step", "example", "channel", "y", "x"}, coords = {step = steps}})
f:write("mprt/maps/input", input, {dims = {"example", "channel", "y", "x"}})
f:attrs("mprt", {protocol = "mprt", order = "top_down", mode = "reinit", model = "mimic"})
