-- test_sweep.lua — `sanity sweep` end to end on tests/lua/helpers/mimic.lua
-- (a stand-in for MPRT): a 2x3 grid run as 3 shards and merged equals the
-- same grid run unsharded with --jobs 2 and merged, array for array and bit
-- for bit; --jobs 2 runs equal --jobs 1 runs; --resume, --dry-run, Slurm's
-- variables, failures with their logs, SIGTERM forwarded to the runs, and
-- every kind of bad input.
local T = require "sanity.test"

local bin = os.getenv("SANITY_BIN") or "bin/sanity"
local H = "tests/lua/helpers/"
local tmp = T.tmpdir()
local function p(name) return tmp .. "/" .. name end
local exists = T.exists
local sh = T.sh
local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local grid = "sweep " .. H .. "mimic.lua noise=0.1,0.2 stop_layer=1:3:1 "
local merged_ignore = " --data-only --ignore /provenance"

-- run ids in grid order, from --dry-run
local function ids_of(args)
  local status, out = T.sanity(grid .. args .. " --dry-run")
  assert(status == 0, out)
  local ids = {}
  for index, id, st in out:gmatch("\n(%d+)%s+(%x+)%s+(%a+)") do ids[#ids + 1] = {tonumber(index), id, st} end
  return ids
end

T.case("dry run: the grid in order, ids, statuses", function()
  local status, out = T.sanity(grid .. "--out " .. p("a") .. " --dry-run")
  T.eq(status, 0, out)
  T.ok(out:find("6 runs (noise: 2, seed: 1, stop_layer: 3 values)", 1, true), out)
  T.ok(out:find('{"noise":0.1,"seed":0,"stop_layer":1}', 1, true), out)
  T.ok(out:find('{"noise":0.2,"seed":0,"stop_layer":3}', 1, true), out)
  local ids = ids_of("--out " .. p("a"))
  T.eq(#ids, 6)
  for i, r in ipairs(ids) do
    T.eq(r[1], i - 1); T.eq(#r[2], 12); T.eq(r[3], "pending")
  end
  T.ok(not exists(p("a")), "a dry run writes nothing")
  -- argument order does not matter; the seed is part of the configuration
  local again = ids_of("--out " .. p("a"))
  local st2, out2 = T.sanity("sweep " .. H .. "mimic.lua stop_layer=1,2,3 noise=0.1,0.2 --out " .. p("a") .. " --dry-run")
  T.eq(st2, 0)
  T.ok(out2:find(again[4][2], 1, true), "same ids in any argument order")
  local _, out3 = T.sanity(grid .. "--seed 1 --out " .. p("a") .. " --dry-run")
  T.ok(not out3:find(again[1][2], 1, true), "another seed, other ids")
end)

T.case("3 shards then merge == unsharded --jobs 2 then merge, bit for bit", function()
  for i = 0, 2 do
    local status, _, err = T.sanity(grid .. "--out " .. p("sh") .. " --shard " .. i .. "/3 --quiet")
    T.eq(status, 0, err)
  end
  local status, _, err = T.sanity(grid .. "--out " .. p("un") .. " --jobs 2")
  T.eq(status, 0, err)
  T.ok(err:find("run 6/6", 1, true), "one line per finished run: " .. err)
  T.ok(err:find("noise=0.1 stop_layer=2: done in", 1, true), err)
  local out
  status, out, err = T.sanity("merge " .. p("sh") .. " -o " .. p("sh.h5") .. " --pad")
  T.eq(status, 0, err)
  T.ok(out:find("merged 6 runs into " .. p("sh.h5"), 1, true), out)
  status, out, err = T.sanity("merge " .. p("un") .. " -o " .. p("un.h5") .. " --pad")
  T.eq(status, 0, err)
  status, out = T.sanity("diff " .. p("sh.h5") .. " " .. p("un.h5") .. merged_ignore)
  T.eq(status, 0, out)
  -- what the merged file holds
  local ids = ids_of("--out " .. p("sh"))
  local cfgid = results.read(p("sh.h5"), "config/id")
  for i = 1, 6 do T.eq(cfgid[i], ids[i][2]); T.eq(ids[i][3], "done") end
  T.near(results.read(p("sh.h5"), "config/noise"), tensor.from{0.1, 0.1, 0.1, 0.2, 0.2, 0.2}, 0)
  T.near(results.read(p("sh.h5"), "config/stop_layer"), tensor.from{1, 2, 3, 1, 2, 3}, 0)
  local scores = results.read(p("sh.h5"), "mprt/scores")
  T.eq(table.concat(scores:shape(), "x"), "6x2x3x2x8")
  local run5 = results.read(p("sh/runs/" .. ids[5][2] .. ".h5"), "mprt/scores") -- stop_layer=2
  for m = 1, 2 do T.near(scores[5][m]:narrow(1, 2), run5[m], 0) end
  T.ok(scores[5][1][3][1][1] ~= scores[5][1][3][1][1], "the padded step is NaN")
  T.eq(table.concat(results.read(p("sh.h5"), "mprt/step"), ","), "fc2,fc1,conv2")
  local a = results.read_attrs(p("sh.h5"))
  T.eq(a.runs_merged, 6); T.eq(a.runs_skipped, 0); T.eq(a.sweep_dir, p("sh"))
  T.eq(results.read_attrs(p("sh.h5"), "mprt").protocol, "mprt")
end)

T.case("--jobs 2 and --jobs 1 write the same runs", function()
  local ids = ids_of("--out " .. p("un"))
  for _, r in ipairs(ids) do
    local a, b = p("sh/runs/" .. r[2] .. ".h5"), p("un/runs/" .. r[2] .. ".h5")
    local status, out = T.sanity("diff " .. a .. " " .. b .. " --ignore cfg_json --ignore command_line --ignore threads")
    T.eq(status, 0, out)
  end
end)

T.case("--resume skips complete runs; a rerun without it is refused", function()
  local status, _, err = T.sanity(grid .. "--out " .. p("un"))
  T.eq(status, 1)
  T.ok(err:find("6 of this shard's 6 runs are already complete", 1, true) and err:find("--resume", 1, true), err)
  status, _, err = T.sanity(grid .. "--out " .. p("un") .. " --resume")
  T.eq(status, 0, err)
  T.ok(err:find("6 already complete, 0 to run", 1, true), err)
end)

T.case("a sweep with another grid in the same directory is refused", function()
  local status, _, err = T.sanity("sweep " .. H .. "mimic.lua noise=0.1,0.3 stop_layer=1:3:1 --out " .. p("un") .. " --dry-run")
  T.eq(status, 1)
  T.ok(err:find(p("un") .. " holds a different sweep (manifest grid differs: noise=0.1,0.2 in the manifest, "
    .. "noise=0.1,0.3 here); use another --out", 1, true), err)
  status, _, err = T.sanity("sweep " .. H .. "mimic.lua noise=0.1,0.2 --out " .. p("un") .. " --dry-run")
  T.eq(status, 1)
  T.ok(err:find("key stop_layer only in the manifest", 1, true), err)
end)

T.case("Slurm array variables choose the shard", function()
  local status, out = T.sanity(grid .. "--out " .. p("a") .. " --dry-run",
    "SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=3")
  T.eq(status, 0, out)
  T.ok(out:find("shard 1/3: 2 runs", 1, true), out)
  local rows = {}
  for index in out:gmatch("\n(%d+)%s+%x+") do rows[#rows + 1] = tonumber(index) end
  T.eq(table.concat(rows, ","), "1,4")
  status, out = T.sanity(grid .. "--out " .. p("a") .. " --dry-run",
    "SLURM_ARRAY_TASK_ID=12 SLURM_ARRAY_TASK_MIN=10 SLURM_ARRAY_TASK_MAX=12")
  T.ok(out:find("shard 2/3", 1, true), out)
  status, out = T.sanity(grid .. "--out " .. p("a") .. " --dry-run",
    "SLURM_ARRAY_TASK_ID=8 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=12 SLURM_ARRAY_TASK_STEP=4 SLURM_ARRAY_TASK_COUNT=4")
  T.ok(out:find("shard 2/4", 1, true), out)
  -- --shard wins over the environment
  status, out = T.sanity(grid .. "--out " .. p("a") .. " --dry-run --shard 0/2", "SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=3")
  T.ok(out:find("shard 0/2: 3 runs", 1, true), out)
  local err
  status, _, err = T.sanity(grid .. "--out " .. p("a") .. " --dry-run", "SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_COUNT=3")
  T.eq(status, 2)
  T.ok(err:find("outside the array of 3 tasks", 1, true), err)
end)

T.case("scripts/slurm/sweep.sbatch: every array task its shard, one merge", function()
  local root = os.getenv("SANITY_ROOT") or "."
  local b = bin:sub(1, 1) == "/" and bin or root .. "/" .. bin
  for i = 0, 1 do
    local out = sh(string.format("SANITY=%s SLURM_ARRAY_TASK_ID=%d SLURM_ARRAY_TASK_COUNT=2 bash "
      .. "%s/scripts/slurm/sweep.sbatch %smimic.lua %s noise=0.1,0.2 seed=1,2 --quiet; echo rc=$?", b, i, root, H, p("sb")))
    T.ok(out:find("rc=0", 1, true), out)
  end
  local status, out = T.sanity("merge " .. p("sb") .. " -o " .. p("sb.h5"))
  T.eq(status, 0)
  T.ok(out:find("merged 4 runs", 1, true), out)
end)

T.case("failed runs: exit 1, listed with their logs", function()
  local status, _, err = T.sanity("sweep " .. H .. "mimic.lua fail=0,2 stop_layer=2 --out " .. p("f") .. " --jobs 2")
  T.eq(status, 1)
  local id = err:match("(%x+) fail=2: exit 1, log ")
  T.ok(id, err)
  T.ok(err:find("1 run failed:", 1, true), err)
  local log = read(p("f/logs/" .. id .. ".log"))
  T.ok(log:find("mimic: failing at step 2 as asked", 1, true), log)
  T.ok(log:find("sanity run " .. H .. "mimic.lua fail=2 seed=0 stop_layer=2 --out", 1, true), log)
  T.ok(err:find("fail=0: done in", 1, true), err)
end)

T.case("SIGTERM to the sweep reaches its runs: 143, partial results; --resume completes", function()
  local args = " noise=0.1,0.2 sleep=0.05 --out " .. p("t") .. " --jobs 2"
  local out = sh(string.format("sh %skillrun.sh TERM %s 1 %s sweep %smimic.lua%s", H, p("t"), bin, H, args))
  T.eq(out:match("status=(%d+)"), "143", out)
  local partial = sh("ls " .. p("t/runs"))
  T.ok(partial:find("%.h5%.partial") and partial:find("%.h5%.units"), partial)
  local logs = sh("cat " .. p("t/logs") .. "/*.log")
  T.ok(logs:find("interrupted by SIGTERM", 1, true), logs)
  local status, _, err = T.sanity("sweep " .. H .. "mimic.lua" .. args .. " --resume --quiet")
  T.eq(status, 0, err)
  status, _, err = T.sanity("sweep " .. H .. "mimic.lua noise=0.1,0.2 sleep=0.05 --out " .. p("t2") .. " --quiet --jobs 2")
  T.eq(status, 0, err)
  T.eq(T.sanity("merge " .. p("t") .. " -o " .. p("t.h5") .. " -q"), 0)
  T.eq(T.sanity("merge " .. p("t2") .. " -o " .. p("t2.h5") .. " -q"), 0)
  local st, diff = T.sanity("diff " .. p("t.h5") .. " " .. p("t2.h5") .. merged_ignore)
  T.eq(st, 0, diff)
end)

T.case("bad input: clear errors, exit 2 (or 1 for the file system)", function()
  local M = "sweep " .. H .. "mimic.lua "
  local O = " --out " .. p("bad")
  local cases = {
    {M .. "noise=0.1:" .. O, "bad range 'noise=0.1:': expected start:stop:step"},
    {M .. "noise=0.1:0.5" .. O, "bad range"},
    {M .. "noise=a:1:0.1" .. O, "'a' is not a number"},
    {M .. "stop_layer=1:0:1" .. O, "empty range 'stop_layer=1:0:1'"},
    {M .. "stop_layer=0:3:0" .. O, "the step must not be 0"},
    {M .. "noise=" .. O, "'noise=' has no values"},
    {M .. "noise=0.1,,0.2" .. O, "empty element in list"},
    {M .. "noise=0.1,0.1" .. O, "value '0.1' appears twice"},
    {M .. "noise=0.1 noise=0.2" .. O, "key 'noise' is given twice"},
    {M .. "nosie=0.1" .. O, "unknown key 'nosie'"},
    {M .. "stop=2" .. O, "did you mean 'stop_layer'?"},
    {M .. "out=x" .. O, "key 'out' is reserved"},
    {M .. "9x=1" .. O, "not a valid key"},
    {M .. "noise" .. O, "not key=values"},
    {M .. "noise=0.1", "--out DIR is required"},
    {M .. "noise=0.1 --shard 3/3" .. O, "--shard 3/3: the shard index must be in 0..2"},
    {M .. "noise=0.1 --shard 1" .. O, "--shard needs I/N"},
    {M .. "noise=0.1 --shard -1/2" .. O, "--shard needs I/N"},
    {M .. "noise=0.1 --jobs 0" .. O, "--jobs needs an integer"},
    {M .. "noise=0.1 --seed 1 seed=2" .. O, "--seed and seed= both given"},
    {M .. "noise=0.1 --frobnicate" .. O, "unknown option '--frobnicate'"},
    {"sweep", "needs a script"},
    {"sweep /nonexistent.lua a=1" .. O, "cannot open script '/nonexistent.lua'"},
  }
  for _, c in ipairs(cases) do
    local status, _, err = T.sanity(c[1])
    T.eq(status, 2, c[1])
    T.ok(err:find(c[2], 1, true), c[1] .. " -> " .. err)
  end
  local _, _, err = T.sanity(M .. "nosie=0.1" .. O)
  T.ok(err:find("did you mean 'noise'?", 1, true) and err:find("declares only noise stop_layer methods sleep fail", 1, true), err)
  -- a script without --@keys takes any key
  local status = T.sanity("sweep " .. H .. "print_cfg.lua anything=1,2" .. O .. "x --dry-run")
  T.eq(status, 0)
  -- the output directory: under a regular file, or a regular file itself
  local f = assert(io.open(p("file"), "w"))
  f:write("x")
  f:close()
  status, _, err = T.sanity(M .. "noise=0.1 --out " .. p("file/sub"))
  T.eq(status, 1)
  T.ok(err:find("is not a directory", 1, true), err)
  status, _, err = T.sanity(M .. "noise=0.1 --out " .. p("file"))
  T.eq(status, 1)
  T.ok(err:find("is not a directory", 1, true), err)
  -- a place nobody may create directories in, root included
  status, _, err = T.sanity(M .. "noise=0.1 --out /sys/sanity_sweep_test")
  T.eq(status, 1)
  T.ok(err:find("cannot create the sweep directory '/sys/sanity_sweep_test': ", 1, true), err)
  if sh("id -u"):match("^0") == nil then -- permissions do not stop root
    os.execute("mkdir -p " .. p("ro") .. " && chmod 555 " .. p("ro"))
    status, _, err = T.sanity(M .. "noise=0.1 --out " .. p("ro/sweep"))
    T.eq(status, 1)
    T.ok(err:find("Permission denied", 1, true), err)
  end
end)

T.done()
