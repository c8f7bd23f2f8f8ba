local h = require "support.helper"
local cjson = require "cjson"

describe("lumi command line (end to end)", function()
  local dir
  before_each(function() dir = h.project({ ["migrations/001_a.sql"] = "SELECT 1;\n" }) end)

  it("--version prints the version and exits 0", function()
    local out, _, code = h.lumi(dir, "--version")
    assert.are.equal(0, code)
    assert.truthy(out:match("^lumi %d+%.%d+%.%d+"), out)
    local out2, _, code2 = h.lumi(dir, "-V")
    assert.are.equal(0, code2)
    assert.are.equal(out, out2)
  end)

  it("--help lists commands and exit codes and exits 0", function()
    local out, _, code = h.lumi(dir, "--help")
    assert.are.equal(0, code)
    assert.truthy(out:find("Usage: lumi [options] COMMAND [arguments]", 1, true), out)
    for _, c in ipairs({ "up", "status", "list", "new", "verify", "validate" }) do
      assert.truthy(out:find("\n  " .. c .. " ", 1, true), c)
    end
    assert.truthy(out:find("Exit status:", 1, true), out)
    assert.truthy(out:find("4   the migration lock is held by another runner", 1, true), out)
  end)

  it("COMMAND --help describes the command and exits 0", function()
    local out, _, code = h.lumi(dir, "up --help")
    assert.are.equal(0, code)
    assert.truthy(out:find("Usage: lumi up [--to VERSION] [--dry-run]", 1, true), out)
    assert.truthy(out:find("--dry-run", 1, true), out)
  end)

  it("no command prints the help and exits 2", function()
    local out, _, code = h.lumi(dir, "")
    assert.are.equal(2, code)
    assert.truthy(out:find("Usage: lumi", 1, true), out)
  end)

  it("an unknown command exits 2 with a suggestion", function()
    local _, err, code = h.lumi(dir, "frobnicate")
    assert.are.equal(2, code)
    assert.truthy(err:find('unknown command "frobnicate"', 1, true), err)
    local _, err2, code2 = h.lumi(dir, "stauts")
    assert.are.equal(2, code2)
    assert.truthy(err2:find('unknown command "stauts" (did you mean "status"?)', 1, true), err2)
  end)

  it("an unknown option exits 2 with a suggestion", function()
    local _, err, code = h.lumi(dir, "--bogus list")
    assert.are.equal(2, code)
    assert.truthy(err:find("unknown option --bogus", 1, true), err)
    local _, err2, code2 = h.lumi(dir, "up --dry-rn")
    assert.are.equal(2, code2)
    assert.truthy(err2:find("unknown option --dry-rn (did you mean --dry-run?)", 1, true), err2)
  end)

  it("an option of another command is unknown", function()
    local _, err, code = h.lumi(dir, "status --to 3")
    assert.are.equal(2, code)
    assert.truthy(err:find("unknown option --to", 1, true), err)
  end)

  it("an option missing its value exits 2", function()
    local _, err, code = h.lumi(dir, "up --to")
    assert.are.equal(2, code)
    assert.truthy(err:find("option --to needs a value (VERSION)", 1, true), err)
  end)

  it("a flag given a value exits 2", function()
    local _, err, code = h.lumi(dir, "up --dry-run=yes")
    assert.are.equal(2, code)
    assert.truthy(err:find("option --dry-run takes no value", 1, true), err)
  end)

  it("a non-numeric --lock-wait exits 2", function()
    local _, err, code = h.lumi(dir, "up --lock-wait soon", { DATABASE_URL = "postgresql:///nodb?host=/nonexistent" })
    assert.are.equal(2, code)
    assert.truthy(err:find("--lock-wait needs a number of seconds", 1, true), err)
  end)

  it("an extra argument exits 2", function()
    local _, err, code = h.lumi(dir, "status extra", { DATABASE_URL = "postgresql:///nodb?host=/nonexistent" })
    assert.are.equal(2, code)
    assert.truthy(err:find('status takes no argument "extra"', 1, true), err)
  end)

  it("colours only when asked, since stdout is not a terminal", function()
    local url = h.fresh_db()
    h.lumi(dir, "up", { DATABASE_URL = url })
    local out, err = h.lumi(dir, "status", { DATABASE_URL = url })
    assert.is_nil(out:find("\27[", 1, true), out)
    assert.is_nil(err:find("\27[", 1, true), err)
    local cout = h.lumi(dir, "--color status", { DATABASE_URL = url })
    assert.truthy(cout:find("\27[32mapplied", 1, true), cout)
    local nout = h.lumi(dir, "--color --no-color status", { DATABASE_URL = url })
    assert.is_nil(nout:find("\27[", 1, true), nout)
  end)

  describe("database unreachable", function()
    local secret = "s3cretpw"

    -- exit 5: the server could not be reached; 2: the URL is not one (no
    -- connection was tried)
    local function check(out, err, code, expected)
      assert.are.equal(expected or 5, code, err)
      assert.is_nil(out:find(secret, 1, true), "password in stdout: " .. out)
      assert.is_nil(err:find(secret, 1, true), "password in stderr: " .. err)
    end

    it("exits 5 and never shows the password of DATABASE_URL", function()
      local env = { DATABASE_URL = "postgresql://u:" .. secret .. "@/db?host=/nonexistent" }
      local out, err, code = h.lumi(dir, "up", env)
      check(out, err, code)
      assert.truthy(err:find("cannot connect to the database", 1, true), err)
      check(h.lumi(dir, "status --json", env))
      check(h.lumi(dir, "verify", env))
      check(h.lumi(dir, "validate", env))
    end)

    it("exits 5 naming the database when it does not exist (the server refuses the handshake)", function()
      local url = h.url_for("no_such_db_" .. math.random(1, 1e9))
      for _, cmd in ipairs({ "status", "up", "validate", "verify", "status --json" }) do
        local out, err, code = h.lumi(dir, cmd, { DATABASE_URL = url })
        assert.are.equal(5, code, cmd .. ": " .. out .. err)
        local text = cmd:find("--json", 1, true) and cjson.decode(out).error.message or err
        assert.truthy(h.has(text, "cannot connect to the database"), cmd .. ": " .. text)
        assert.truthy(h.has(text, "does not exist"), cmd .. ": " .. text)
        assert.is_nil(text:find("Segmentation", 1, true), text)
      end
    end)

    it("--json reports a connection error as JSON", function()
      local out, _, code = h.lumi(dir, "status --json", { DATABASE_URL = "postgresql:///db?host=/nonexistent" })
      assert.are.equal(5, code)
      local doc = cjson.decode(out)
      assert.are.equal("connection", doc.error.kind)
    end)

    it("never shows a conninfo password", function()
      check(h.lumi(dir, "up", { DATABASE_URL = "host=/nonexistent dbname=db user=u password=" .. secret }))
    end)

    it("never shows the password of --database", function()
      check(h.lumi(dir, "--database " .. h.q("postgresql://u:" .. secret .. "@/db?host=/nonexistent") .. " up"))
    end)

    it("never shows the password of a malformed URL", function()
      local env = { DATABASE_URL = "postgresql://u:" .. secret .. "@[bad/db" }
      local out, err, code = h.lumi(dir, "up", env)
      check(out, err, code, 2)
      assert.truthy(err:find("the database connection string is not valid", 1, true), err)
      local jout, jerr, jcode = h.lumi(dir, "up --json", env)
      check(jout, jerr, jcode, 2)
    end)
  end)
end)
