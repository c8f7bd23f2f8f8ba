--- lumi log: the event log of the tracking tables, newest first.
return {
  summary = "show the log of applied, reverted, failed and marked migrations",
  usage = "lumi log [-n N]",
  description = [[
Shows the append-only event log that lumi keeps beside the tracking table:
every migration applied, reverted, failed (with its error), marked,
unmarked, baselined or repaired, with who, when and how long.]],
  options = { { "--limit", short = "-n", arg = "N", help = "how many events (default 50)" } },
  run = function(project, opts)
    local st = project:store()
    local n = math.tointeger(tonumber(opts.limit or 50))
    if not n or n < 1 then
      require("lumi.errors").raise("usage", string.format("log -n N: N must be a whole number of events, 1 or more (got %q)",
        tostring(opts.limit)))
    end
    local rows = st:history(n)
    local events = {}
    for i, r in ipairs(rows) do events[i] = r end
    return { events = events, target = project.target }
  end,
}
