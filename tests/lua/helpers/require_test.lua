-- Checks that the project's Lua library resolves from the current directory.
local t = require "sanity.test"
assert(type(t.case) == "function")
assert(require("sanity.tensor") == tensor)
print("ok")
