-- sanity.test — a small test library for Lua API tests run by bin/sanity.
--   local T = require "sanity.test"
--   T.case("name", function() T.eq(1+1, 2) end)
--   T.done()   -- prints "<file>: N passed, N failed"; raises if any failed
local T = {}
local passed, failed = 0, 0

local function fail(msg, level)
  error(msg, (level or 1) + 1)
end

function T.case(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if ok then
    passed = passed + 1
  else
    failed = failed + 1
    io.stderr:write("FAIL ", name, ": ", tostring(err), "\n")
  end
end

function T.ok(v, msg)
  if not v then fail(msg or "expected a true value", 2) end
  return v
end

function T.eq(a, b, msg)
  if a ~= b then
    fail(string.format("%sexpected %s, got %s", msg and (msg .. ": ") or "", tostring(b), tostring(a)), 2)
  end
end

-- |a - b| <= tol (numbers) or elementwise for tensors.
function T.near(a, b, tol, msg)
  tol = tol or 1e-6
  local prefix = msg and (msg .. ": ") or ""
  if tensor.is_tensor(a) then
    local d = (a - b):abs():max()
    if not (d <= tol) then fail(string.format("%smax |diff| %.3g > %g", prefix, d, tol), 2) end
  elseif not (math.abs(a - b) <= tol) then
    fail(string.format("%sexpected %.9g, got %.9g (tol %g)", prefix, b, a, tol), 2)
  end
end

-- fn must raise an error whose message contains every given fragment
-- (plain text, not patterns). Returns the message.
function T.errors(fn, ...)
  local ok, err = pcall(fn)
  if ok then fail("expected an error, none raised", 2) end
  err = tostring(err)
  for _, frag in ipairs({...}) do
    if not err:find(frag, 1, true) then
      fail(string.format("error message %q lacks %q", err, frag), 2)
    end
  end
  return err
end

-- A fresh temporary directory (removed with its contents by T.done()).
local tmpdirs = {}
function T.tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p " .. d))
  tmpdirs[#tmpdirs + 1] = d
  return d
end

function T.exists(path)
  local fh = io.open(path, "rb")
  if fh then fh:close() end
  return fh ~= nil
end

-- Output (stdout and stderr) and exit status of a shell command.
function T.sh(cmd)
  local f = io.popen(cmd .. " 2>&1")
  local out = f:read("a")
  local _, _, status = f:close()
  return out, status
end

function T.done()
  for _, d in ipairs(tmpdirs) do os.execute("chmod -R u+w " .. d .. " 2>/dev/null; rm -rf " .. d) end
  local name = (arg and arg[0] or "lua"):match("([^/]+)%.lua$") or "lua"
  print(string.format("%s: %d passed, %d failed", name, passed, failed))
  if failed > 0 then error(string.format("%d test(s) failed", failed), 0) end
end

-- Runs bin/sanity with arguments (a shell string), optionally with extra
-- environment assignments ("VAR=value ..."); returns exit status, stdout, stderr.
function T.sanity(args, env)
  local bin = os.getenv("SANITY_BIN") or "bin/sanity"
  local errfile = os.tmpname()
  local p = io.popen(string.format("%s %s %s 2>%s", env or "", bin, args, errfile))
  local out = p:read("a")
  local _, _, status = p:close()
  local f = io.open(errfile)
  local err = f:read("a")
  f:close()
  os.remove(errfile)
  return status, out, err
end

-- Runs `sanity run ARGS --threads N --out FILE` for N = 1 and 2, each of
-- which must succeed; returns the two files (in a T.tmpdir()).
function T.thread_runs(args)
  local d, out = T.tmpdir(), {}
  for _, th in ipairs{1, 2} do
    out[th] = string.format("%s/threads%d.h5", d, th)
    local status, _, err = T.sanity(string.format("run %s --threads %d --out %s", args, th, out[th]))
    T.eq(status, 0, err)
  end
  return out
end

-- The datasets `names` of T.thread_runs(args) are equal bit for bit and not
-- all zeros.
function T.same_across_threads(args, names)
  local out = T.thread_runs(args)
  for _, name in ipairs(names) do
    local a, b = data.load_h5(out[1], name), data.load_h5(out[2], name)
    T.ok(a:equal(b), name .. ": 1 vs 2 threads")
    T.ok(a:abs():max() > 0, name .. " is not all zeros")
  end
end

return T
