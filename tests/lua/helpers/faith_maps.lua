-- faith_maps.lua — the forward-heavy metrics on a batch large enough for
-- several chunks per call, written to cfg.out; test_metric_faith.lua runs it
-- with --threads 1 and 2 and compares the files bitwise (the 2-thread run
-- scores chunks on per-worker model copies at the same time).
local models = require "sanity.models"
local m = models.lenet{seed = 6}
local x, y = data.fashion_mnist{n = 24}
local maps = attr.gradient(m, x, y)
local f = results.open()
f:write("infidelity", (metric.infidelity(m, x, y, maps, {n_perturb = 40})))
f:write("infidelity_square", (metric.infidelity(m, x, y, maps, {n_perturb = 20, perturbation = "square_removal"})))
f:write("pixel_flipping", (metric.pixel_flipping(m, x, y, maps, {batch_size = 8})))
f:write("faithfulness_correlation", (metric.faithfulness_correlation(m, x, y, maps, {n = 30})))
f:write("sufficiency", (metric.sufficiency(m, x, maps, {batch_size = 8})))
f:write("sensitivity_max", (metric.sensitivity_max(m, x, y, "gradient", {n = 4})))
f:close()
