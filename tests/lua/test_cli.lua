-- test_cli.lua — bin/sanity's command line: cfg typing, options, exit
-- statuses (0 ok, 1 script error, 2 usage), help and version.
local T = require "sanity.test"
local H = "tests/lua/helpers/"

T.case("key=value pairs become typed cfg entries", function()
  local status, out = T.sanity("run " .. H .. "print_cfg.lua a=1 b=2.5 c=true d=false e=hello "
    .. "m=gradient,ig,3 n.steps=32 --seed 7 --threads 2 --out /tmp/x.h5")
  T.eq(status, 0)
  T.ok(out:find("a=integer:1", 1, true), out)
  T.ok(out:find("b=float:2.5", 1, true))
  T.ok(out:find("c=boolean:true", 1, true))
  T.ok(out:find("d=boolean:false", 1, true))
  T.ok(out:find("e=string:hello", 1, true))
  T.ok(out:find("m=table:string|string|integer", 1, true))
  T.ok(out:find("n=table:steps:32", 1, true))
  T.ok(out:find("seed=integer:7", 1, true))
  T.ok(out:find("threads=integer:2", 1, true))
  T.ok(out:find("out=string:/tmp/x.h5", 1, true))
end)

T.case("seed= and threads= as pairs set the session too", function()
  local _, out = T.sanity("run " .. H .. "print_cfg.lua seed=11 threads=1")
  T.ok(out:find("seed=integer:11", 1, true) and out:find("threads=integer:1", 1, true), out)
end)

T.case("script errors: status 1, file:line and a traceback", function()
  local status, _, err = T.sanity("run " .. H .. "fail_at_line3.lua")
  T.eq(status, 1)
  T.ok(err:find("fail_at_line3.lua:3: matmul: inner dimensions differ: [2, 3] @ [4, 4]", 1, true), err)
  T.ok(err:find("stack traceback", 1, true), err)
end)

T.case("usage errors: status 2 with a hint", function()
  local cases = {
    {"run " .. H .. "print_cfg.lua noequals", "not key=value"},
    {"run " .. H .. "print_cfg.lua 9x=1", "not a valid key"},
    {"run " .. H .. "print_cfg.lua l=1,,2", "empty element"},
    {"run " .. H .. "print_cfg.lua --seed", "--seed needs a value"},
    {"run " .. H .. "print_cfg.lua --seed -4", "non-negative integer"},
    {"run " .. H .. "print_cfg.lua --threads 0", "1..256"},
    {"run " .. H .. "print_cfg.lua --frobnicate", "unknown option '--frobnicate'"},
    {"run /nonexistent/script.lua", "cannot open script '/nonexistent/script.lua'"},
    {"frobnicate", "unknown command 'frobnicate'"},
    {"run", "usage: sanity run"},
  }
  for _, c in ipairs(cases) do
    local status, _, err = T.sanity(c[1])
    T.eq(status, 2, c[1])
    T.ok(err:find(c[2], 1, true), c[1] .. " -> " .. err)
  end
end)

T.case("help and version", function()
  local status, out = T.sanity("--help")
  T.eq(status, 0)
  T.ok(out:find("run SCRIPT.lua", 1, true))
  status, out = T.sanity("run --help")
  T.eq(status, 0)
  T.ok(out:find("--threads N", 1, true))
  status, out = T.sanity("version")
  T.eq(status, 0)
  T.ok(out:find("^sanity %d+%.%d+%.%d+"), out)
  T.ok(out:find("Lua 5.4", 1, true))
end)

T.case("require finds the project's Lua library from any directory", function()
  local status, out = T.sanity("run " .. os.getenv("SANITY_ROOT") .. "/" .. H .. "print_cfg.lua x=1")
  T.eq(status, 0)
  local bin = os.getenv("SANITY_BIN") or "bin/sanity"
  if bin:sub(1, 1) ~= "/" then bin = os.getenv("SANITY_ROOT") .. "/" .. bin end
  local p = io.popen("cd /tmp && " .. bin .. " run "
    .. os.getenv("SANITY_ROOT") .. "/tests/lua/helpers/require_test.lua 2>&1")
  local got = p:read("a"); p:close()
  T.ok(got:find("ok", 1, true), got)
end)

T.done()
