-- Prints cfg as sorted "key=type:value" lines (lists joined by '|').
local keys = {}
for k in pairs(cfg) do keys[#keys + 1] = k end
table.sort(keys)
for _, k in ipairs(keys) do
  local v = cfg[k]
  if type(v) == "table" then
    local parts = {}
    for i, e in ipairs(v) do parts[i] = math.type(e) or type(e) end
    for kk, e in pairs(v) do if type(kk) == "string" then parts[#parts + 1] = kk .. ":" .. tostring(e) end end
    print(k .. "=table:" .. table.concat(parts, "|"))
  else
    print(k .. "=" .. (math.type(v) or type(v)) .. ":" .. tostring(v))
  end
end
