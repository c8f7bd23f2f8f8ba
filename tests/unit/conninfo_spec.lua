-- Connection strings in output (lumi.conninfo): passwords never shown,
-- the strings read the way libpq reads them.
local conninfo = require "lumi.conninfo"

describe("conninfo.redact", function()
  it("hides the password of a URL", function()
    assert.are.equal("postgresql://u:***@db.example.com/app", conninfo.redact("postgresql://u:s3cretpw@db.example.com/app"))
    assert.are.equal("postgres://u:***@h:5432/app?sslmode=require",
      conninfo.redact("postgres://u:s3cretpw@h:5432/app?sslmode=require"))
    assert.are.equal("postgresql://u:***@/db?host=/nonexistent", conninfo.redact("postgresql://u:s3cretpw@/db?host=/nonexistent"))
  end)

  it("hides a password given as a URL parameter", function()
    assert.are.equal("postgresql://h/db?user=u&password=***", conninfo.redact("postgresql://h/db?user=u&password=s3cretpw"))
    assert.are.equal("postgresql:///db?password=***&host=/tmp", conninfo.redact("postgresql:///db?password=s3cretpw&host=/tmp"))
  end)

  it("hides a URL password whatever characters it holds, as libpq reads it", function()
    assert.are.equal("postgresql://postgres:***@/app?host=/tmp",
      conninfo.redact("postgresql://postgres:it's a secret@/app?host=/tmp"))
    assert.are.equal("postgresql://postgres:***@/app", conninfo.redact([[postgresql://postgres:pa"ss'word@/app]]))
    assert.are.equal("postgresql:///app?host=/tmp&user=u&password=***",
      conninfo.redact("postgresql:///app?host=/tmp&user=u&password=correct horse battery"))
    -- the user part ends at the first / : an @ further on is not a password's end
    assert.are.equal("postgresql://h/app?application_name=a@b", conninfo.redact("postgresql://h/app?application_name=a@b"))
  end)

  it("hides sslpassword, and a URL parameter whose name is percent-encoded", function()
    assert.are.equal("postgresql:///app?pass%77ord=***&sslpassword=***&host=/tmp",
      conninfo.redact("postgresql:///app?pass%77ord=hunter2&sslpassword=keypass&host=/tmp"))
  end)

  it("rebuilds a conninfo string with a password from what libpq parses, keywords in order", function()
    assert.are.equal("host=h password=*** user=u", conninfo.redact("host=h password=s3cretpw user=u"))
    assert.are.equal("host=h password=*** user=u", conninfo.redact("host=h password = 's3cret pw' user=u"))
    assert.are.equal("host=h password=*** user=u", conninfo.redact([[host=h password='pa\'ss word' user=u]]))
    assert.are.equal("dbname=app host=/tmp password=*** sslmode=disable user=u",
      conninfo.redact([[host=/tmp dbname=app user=u password=hunter2\ tail_of_secret sslmode=disable]]))
    assert.are.equal("host=h password=*** sslpassword=*** user=u",
      conninfo.redact("host=h sslpassword=keypass password='x y' user=u"))
    assert.are.equal("application_name='my app' host=h password=***",
      conninfo.redact("host=h password=x application_name='my app'"))
  end)

  it("leaves a conninfo string without a password as it is written", function()
    assert.are.equal("host=h dbname='my password=x'", conninfo.redact("host=h dbname='my password=x'"))
    assert.are.equal("host=h application_name=password user=u", conninfo.redact("host=h application_name=password user=u"))
    assert.are.equal("postgresql://u@h/db", conninfo.redact("postgresql://u@h/db"))
    assert.are.equal("host=/tmp dbname=app", conninfo.redact("host=/tmp dbname=app"))
    assert.is_nil(conninfo.redact(nil))
  end)

  it("hides a password in text libpq cannot parse by its usual shapes", function()
    assert.are.equal("host=h password=*** nosuch=1", conninfo.redact("host=h password=hunter2 nosuch=1"))
    assert.are.equal("see password=*** there", conninfo.redact("see password='a b' there"))
  end)
end)

describe("conninfo.scrub", function()
  it("replaces the secrets of a connection string wherever a message quotes them", function()
    local s = [[host=/tmp dbname=app user=u password=hunter2\ tail_of_secret sslmode=disable]]
    assert.are.equal("connecting with *** failed", conninfo.scrub("connecting with hunter2 tail_of_secret failed", s))
    assert.are.equal("failed for ***", conninfo.scrub("failed for keypass", "host=h sslpassword=keypass"))
    assert.are.equal("failed for ***", conninfo.scrub("failed for hunter2", "postgresql:///app?pass%77ord=hunter2"))
  end)

  it("finds a URL password both as written and percent-decoded", function()
    local url = "postgresql://u:p%40ss@h/db"
    assert.are.equal("*** or ***", conninfo.scrub("p%40ss or p@ss", url))
  end)

  it("redacts any connection string the message quotes", function()
    assert.are.equal('could not connect to "postgresql://u:***@h/db"',
      conninfo.scrub('could not connect to "postgresql://u:pw@h/db"', nil))
  end)
end)

describe("conninfo.with_dbname", function()
  it("replaces a URL's database and keeps its parameters; adds dbname= to a key=value string", function()
    assert.are.equal("postgresql:///scratch?host=/tmp/sock&user=u",
      conninfo.with_dbname("postgresql:///app?host=/tmp/sock&user=u", "scratch"))
    assert.are.equal("postgres://u:p@db.example:5433/scratch",
      conninfo.with_dbname("postgres://u:p@db.example:5433/app", "scratch"))
    assert.are.equal("postgres://u@h/scratch", conninfo.with_dbname("postgres://u@h", "scratch"))
    assert.are.equal("host=h dbname=app dbname='scr\\'atch'", conninfo.with_dbname("host=h dbname=app", "scr'atch"))
    -- libpq takes the last dbname of a key=value string
    local pg = require "lumi.pg"
    assert.are.equal("scr'atch", pg.conninfo_parse(conninfo.with_dbname("host=h dbname=app", "scr'atch")).dbname)
  end)
end)
