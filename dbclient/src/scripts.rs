//! The Lua scripts behind the atomic read-modify-writes.
//!
//! A multiplexed connection is shared by every task of a process, so `WATCH` (which is
//! per-connection state) cannot be used on it: another task's commands could slip between
//! `WATCH` and `EXEC`. Lua scripts run atomically on the server instead. They only compare and
//! concatenate raw strings; every decision that needs to understand a value (is this mode the
//! guard? does the list start with what was drained?) is made in Rust by the core codec, and
//! the script then checks that the raw value is still exactly what was decoded.

use std::sync::LazyLock;

use redis::Script;

/// Compare-and-set on one hash field.
///
/// `KEYS[1]`: the row. `ARGV[1]`: the guarded field. `ARGV[2]`: `1` when the field must hold
/// `ARGV[3]`, `0` when it must be absent. `ARGV[4]`: `n`, the number of fields to delete, named
/// in `ARGV[5..4+n]`; the remaining arguments are field/value pairs to set.
///
/// Returns `{1}` when applied, else `{0}` when the guarded field is absent or `{0, value}`.
pub(crate) static GUARDED_UPDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local ok
if ARGV[2] == '1' then ok = (cur == ARGV[3]) else ok = (cur == false) end
if not ok then
  if cur == false then return {0} end
  return {0, cur}
end
local n = tonumber(ARGV[4])
if n > 0 then redis.call('HDEL', KEYS[1], unpack(ARGV, 5, 4 + n)) end
if #ARGV > 4 + n then redis.call('HSET', KEYS[1], unpack(ARGV, 5 + n)) end
return {1}
",
    )
});

/// Appends items to a SONiC list field (`name@`, comma-joined items), and tells whether the
/// list was empty — in one atomic step, so that the caller knows whether it must stop kubelet
/// (it was) or may leave it stopped (it was not), with no drain in between.
///
/// `KEYS[1]`: the row. `ARGV[1]`: the list field. `ARGV[2]`: the items, already joined.
/// `ARGV[3]`: the list separator. `ARGV[4]`: `behind` to append only when the list is not
/// empty (append-behind: an operation never overtakes pending ones), `always` otherwise. A
/// field that is absent or blank is empty.
///
/// Returns how many items the list held before: `0` when it was empty (and the items were
/// appended, unless `behind`), else the count (and they were appended behind them).
pub(crate) static LIST_APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local empty = (cur == false or string.match(cur, '^%s*$') ~= nil)
if empty then
  if ARGV[4] == 'behind' then return 0 end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 0
end
local _, seps = string.gsub(cur, ARGV[3], '')
redis.call('HSET', KEYS[1], ARGV[1], cur .. ARGV[3] .. ARGV[2])
return seps + 1
",
    )
});

/// Conditional write of several fields of one row.
///
/// `KEYS[1]`: the row. `ARGV[1]`: `n`, the number of conditions, each three arguments from
/// `ARGV[2]`: a field, `1` when it must hold the value that follows or `0` when it must be
/// absent, and that value. The remaining arguments are field/value pairs to set.
///
/// Returns 1 when it wrote, 0 when a condition failed (nothing written).
pub(crate) static SET_IF: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  local f, must, want = ARGV[2 + 3 * i], ARGV[3 + 3 * i], ARGV[4 + 3 * i]
  local cur = redis.call('HGET', KEYS[1], f)
  if must == '1' then
    if cur ~= want then return 0 end
  elseif cur ~= false then
    return 0
  end
end
if #ARGV > 1 + 3 * n then redis.call('HSET', KEYS[1], unpack(ARGV, 2 + 3 * n)) end
return 1
",
    )
});
