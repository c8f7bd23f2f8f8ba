-- luacheck: the Lua sources (tests/unit/lint_spec.lua runs it over lua/)
std = "lua54"
max_line_length = 140
-- Project:checksums and its like are methods; `self` may go unused
self = false
