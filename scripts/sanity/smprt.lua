-- sanity.smprt — Smooth MPRT (Hedström et al. 2023): MPRT whose
-- explanations are first denoised by averaging over nr_samples noisy copies
-- of the input (Gaussian, std = noise_magnitude x the sample's value range;
-- the last copy noise-free), then compared layer by layer.
-- Defaults follow Quantus' SmoothMPRT: bottom-up order, nr_samples = 50,
-- noise_magnitude = 0.1, abs = true, normalize = "rms" (Quantus'
-- normalise_by_average_second_moment_estimate). Every other option and the
-- results layout are sanity.mprt's (group "smprt").
local mprt = require "sanity.mprt"
local P = require "sanity.protocol"
local M = {}

M.defaults = {}
for k, v in pairs(mprt.defaults) do M.defaults[k] = v end
M.defaults.order, M.defaults.abs, M.defaults.normalize = "bottom_up", true, "rms"
M.defaults.group, M.defaults.protocol = "smprt", "smprt"
M.defaults.nr_samples, M.defaults.noise_magnitude = 50, 0.1

function M.run(opts)
  opts = opts or {}
  local o = {}
  for k, v in pairs(M.defaults) do o[k] = v end
  for k, v in pairs(opts) do o[k] = v end
  local n, mag = o.nr_samples, o.noise_magnitude
  if math.type(n) ~= "integer" or n < 1 then
    error(string.format("smprt.run: nr_samples must be an integer >= 1, got %s", tostring(n)), 2)
  end
  if type(mag) ~= "number" or mag < 0 then
    error(string.format("smprt.run: noise_magnitude must be a number >= 0, got %s", tostring(mag)), 2)
  end
  o.nr_samples, o.noise_magnitude = nil, nil
  o.denoise = {nr_samples = n, noise_magnitude = mag}
  for k in pairs(opts) do
    if M.defaults[k] == nil and k ~= "model" and k ~= "x" and k ~= "y" and k ~= "layer_order"
       and k ~= "similarity_func" and k ~= "normalise" then
      P.check_options({[k] = true}, M.defaults, nil, "smprt.run")
    end
  end
  return mprt.run(o)
end

return M
