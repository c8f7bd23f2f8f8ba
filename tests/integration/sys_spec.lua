local h = require "support.helper"
local sys = require "lumi.sys"

describe("lumi.sys.list", function()
  it("lists the names in byte order, without . and ..", function()
    local d = h.project({
      ["b.sql"] = "", ["a.sql"] = "", ["B.sql"] = "", ["_x"] = "", ["10_x.sql"] = "", ["9_x.sql"] = "",
      [".hidden"] = "", ["\xc3\xa9t\xc3\xa9.sql"] = "", ["a b.sql"] = "",
    })
    local names, kinds = sys.list(d)
    -- bytewise: "." < digits < upper case < "_" < lower case < bytes >= 0x80
    assert.are.same({ ".hidden", "10_x.sql", "9_x.sql", "B.sql", "_x", "a b.sql", "a.sql", "b.sql",
      "\xc3\xa9t\xc3\xa9.sql" }, names)
    assert.are.same({}, kinds)
  end)

  it("lists an empty directory as two empty tables", function()
    local names, kinds = sys.list(h.tmpdir())
    assert.are.same({}, names)
    assert.are.same({}, kinds)
  end)

  it("marks subdirectories, and symbolic links to directories, as \"directory\"", function()
    local d = h.project({
      ["001_plain.sql"] = "SELECT 1;\n",
      ["002_dir/up.sql"] = "SELECT 2;\n",
      ["elsewhere/file.sql"] = "",
    })
    os.execute("mkdir " .. h.q(d .. "/003_empty"))
    os.execute("ln -s elsewhere " .. h.q(d .. "/004_link"))
    os.execute("ln -s 001_plain.sql " .. h.q(d .. "/005_filelink.sql"))
    os.execute("ln -s nowhere " .. h.q(d .. "/006_dangling"))
    local names, kinds = sys.list(d)
    assert.are.same({ "001_plain.sql", "002_dir", "003_empty", "004_link", "005_filelink.sql", "006_dangling",
      "elsewhere" }, names)
    assert.are.same({ ["002_dir"] = "directory", ["003_empty"] = "directory", ["004_link"] = "directory",
      elsewhere = "directory" }, kinds)
  end)

  it("lists many entries, all of them, sorted", function()
    local d = h.tmpdir()
    local _, err, code = h.sh("cd " .. h.q(d) .. " && seq -f '%g_m.sql' 1 1500 | xargs touch")
    assert.are.equal(0, code, err)
    local names = sys.list(d)
    assert.are.equal(1500, #names)
    local want = {}
    for i = 1, 1500 do want[i] = i .. "_m.sql" end
    table.sort(want)
    assert.are.same(want, names)
  end)

  it("says \"no such directory\" (nil, message, errno) for a missing path", function()
    local names, msg, code = sys.list(h.tmpdir() .. "/missing")
    assert.is_nil(names)
    assert.are.equal("no such directory", msg)
    assert.are.equal(2, code)
  end)

  it("says \"not a directory\" for a file, and for a path through a file", function()
    local d = h.project({ ["f.sql"] = "SELECT 1;\n" })
    local names, msg, code = sys.list(d .. "/f.sql")
    assert.is_nil(names)
    assert.are.equal("not a directory", msg)
    assert.are.equal(20, code)
    names, msg = sys.list(d .. "/f.sql/sub")
    assert.is_nil(names)
    assert.are.equal("not a directory", msg)
  end)

  it("refuses a path that is not a string", function()
    assert.has_error(function() sys.list({}) end)
    assert.has_error(function() sys.list() end)
  end)
end)

describe("lumi.sys.kind", function()
  it("tells files, directories and other things apart, following links", function()
    local d = h.project({ ["a.sql"] = "x", ["sub/b.sql"] = "" })
    os.execute("ln -s a.sql " .. h.q(d .. "/link.sql") .. " && ln -s sub " .. h.q(d .. "/linkdir")
      .. " && mkfifo " .. h.q(d .. "/fifo"))
    assert.are.equal("file", sys.kind(d .. "/a.sql"))
    assert.are.equal("directory", sys.kind(d .. "/sub"))
    assert.are.equal("file", sys.kind(d .. "/link.sql"))
    assert.are.equal("directory", sys.kind(d .. "/linkdir"))
    assert.are.equal("other", sys.kind(d .. "/fifo"))
  end)

  it("returns nil, a message and the errno for what is not there", function()
    local d = h.project({ ["a.sql"] = "x" })
    local kind, msg, code = sys.kind(d .. "/missing")
    assert.is_nil(kind)
    assert.are.equal("No such file or directory", msg)
    assert.are.equal(2, code)                      -- ENOENT
    kind, msg, code = sys.kind(d .. "/a.sql/below")
    assert.is_nil(kind)
    assert.are.equal(20, code)                     -- ENOTDIR
  end)
end)

describe("lumi.sys.cwd and isatty", function()
  it("gives the working directory, as the shell sees it", function()
    local pwd = io.popen("pwd -P"):read("l")
    assert.are.equal(pwd, sys.cwd())
  end)

  it("says whether a descriptor is a terminal", function()
    -- busted's output goes to a file here, and no process has fd 1000 open
    assert.is_false(sys.isatty(1000))
    assert.is_false(sys.isatty(-1))
    local out = h.lua54([[io.write(tostring(require("lumi.sys").isatty(1)))]])
    assert.are.equal("false", out)
  end)
end)
