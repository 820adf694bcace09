// Each script touches ONE key, so each runs in one slot of a Redis Cluster; the cross-slot ownership move
// is a protocol of these steps (registry.ts, docs/redis-keys.md "Moving a token"). Two kinds of key:
//
// user bucket (KEYS[1]), field = user id, value = the user's entries, one line each:
//   <state><system>,<tag>,<registeredAt base 36>,<extra>,<token>
//   state '=' active (delivered to) or '+' pending (inert: written before the claim, never read);
//   system 'a' | 'g'; tag = claim version (base 36) when active, the add's nonce when pending;
//   extra = '<application_id>;<sandbox 0|1>;<apns_topic>' for APNs, empty for GCM. The token comes last
//   (a registration id may hold commas; never a newline: the API's regex excludes it).
// owner index bucket (KEYS[1]), field = 12-byte digest of system + token, value = the claim record:
//   <version base 36>\t<owner or empty>[\t<dirty user>...]   (user ids hold no whitespace)
//   dirty users: earlier holders whose entries may still be there, to be cleaned by the next claim.

const ENTRIES = `
local function parse(blob)
  local out = {}
  if not blob then return out end
  for line in string.gmatch(blob, '[^\\n]+') do
    local st, sy, tag, at, extra, tok = string.match(line, '^(.)(.),([^,]*),([^,]*),([^,]*),(.*)$')
    if st then out[#out + 1] = {st, sy, tag, at, extra, tok} end
  end
  return out
end
local function save(key, user, list)
  if #list == 0 then redis.call('HDEL', key, user); return end
  local lines = {}
  for i, e in ipairs(list) do lines[i] = e[1] .. e[2] .. ',' .. e[3] .. ',' .. e[4] .. ',' .. e[5] .. ',' .. e[6] end
  redis.call('HSET', key, user, table.concat(lines, '\\n'))
end
local function find(list, st, sy, tok)
  for i, e in ipairs(list) do if e[1] == st and e[2] == sy and e[6] == tok then return i end end
  return nil
end
`;

const RECORD = `
local function split(rec)
  local out, start = {}, 1
  while true do
    local i = string.find(rec, '\\t', start, true)
    if not i then out[#out + 1] = string.sub(rec, start); return out end
    out[#out + 1] = string.sub(rec, start, i - 1)
    start = i + 1
  end
end
local function write(key, field, v, owner, dirty)
  if owner == '' and #dirty == 0 then redis.call('HDEL', key, field); return end
  local parts = {string.format('%x', v), owner}
  for _, d in ipairs(dirty) do parts[#parts + 1] = d end
  redis.call('HSET', key, field, table.concat(parts, '\\t'))
end
local function load(key, field)
  local rec = redis.call('HGET', key, field)
  if not rec then return 0, '', {} end
  local p = split(rec)
  local dirty = {}
  for i = 3, #p do dirty[#dirty + 1] = p[i] end
  return tonumber(p[1], 16), p[2], dirty
end
local function without(list, x)
  local out = {}
  for _, d in ipairs(list) do if d ~= x then out[#out + 1] = d end end
  return out
end
`;

/** Step 1 of an add. ARGV: user, system, token, nonce, registeredAt36, extra. Replaces an older pending line. */
export const USER_PENDING = `${ENTRIES}
local key, user, sy, tok = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local list = parse(redis.call('HGET', key, user))
local i = find(list, '+', sy, tok)
if i then table.remove(list, i) end
list[#list + 1] = {'+', sy, ARGV[4], ARGV[5], ARGV[6], tok}
save(key, user, list)
return 1
`;

/**
 * Step 2: the claim, in the token's index slot. ARGV: digest field, user. The version goes up by one; the
 * previous owner (unless it is the caller) joins the dirty users, the caller leaves them.
 * Returns {version, dirty user...}.
 */
export const INDEX_CLAIM = `${RECORD}
local key, field, user = KEYS[1], ARGV[1], ARGV[2]
local v, owner, dirty = load(key, field)
if owner ~= '' and owner ~= user then dirty[#dirty + 1] = owner end
dirty = without(dirty, user)
v = v + 1
write(key, field, v, user, dirty)
local out = {v}
for _, d in ipairs(dirty) do out[#out + 1] = d end
return out
`;

/**
 * Step 3, in a dirty user's slot: drop their pending line for the token and their active one if its version
 * is older than the claim's. ARGV: user, system, token, claim version. Returns 1 when an active entry went.
 */
export const USER_CLEAN = `${ENTRIES}
local key, user, sy, tok, v = KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local list = parse(redis.call('HGET', key, user))
local removed = 0
local i = find(list, '+', sy, tok)
if i then table.remove(list, i) end
i = find(list, '=', sy, tok)
if i and tonumber(list[i][3], 16) < v then table.remove(list, i); removed = 1 end
save(key, user, list)
return removed
`;

/** Step 4a, in the index slot: the claim's cleaning is done. ARGV: field, user, version, cleaned users... */
export const INDEX_CLEANED = `${RECORD}
local key, field, user, cv = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
local v, owner, dirty = load(key, field)
if v ~= cv or owner ~= user then return 0 end
for i = 4, #ARGV do dirty = without(dirty, ARGV[i]) end
write(key, field, v, owner, dirty)
return 1
`;

/**
 * Step 4b, in the caller's slot: the pending line with this add's nonce becomes active with the claim's
 * version (nothing when a later claimer cleaned it away). Over the cap, the oldest active entry of the
 * system goes. ARGV: user, system, token, nonce, version36, cap.
 * Returns {confirmed 0|1, evicted token or '', evicted version36 or ''}.
 */
export const USER_CONFIRM = `${ENTRIES}
local key, user, sy, tok, nonce, v, cap = KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local list = parse(redis.call('HGET', key, user))
local i = find(list, '+', sy, tok)
if not i or list[i][3] ~= nonce then return {0, '', ''} end
local e = table.remove(list, i)
local old = find(list, '=', sy, tok)
if old then table.remove(list, old) end
list[#list + 1] = {'=', sy, v, e[4], e[5], tok}
local count, oldest, oldestAt = 0, nil, nil
for j, x in ipairs(list) do
  if x[1] == '=' and x[2] == sy then
    count = count + 1
    local at = tonumber(x[4], 36)
    if x[6] ~= tok and (oldestAt == nil or at < oldestAt) then oldest, oldestAt = j, at end
  end
end
local evicted, ev = '', ''
if count > cap and oldest then
  local x = table.remove(list, oldest)
  evicted, ev = x[6], x[3]
end
save(key, user, list)
return {1, evicted, ev}
`;

/**
 * A user removes their own entry (both lines). ARGV: user, system, token, registeredBefore36 or '', seen36 or ''
 * (only an entry registered at or before the time the caller saw goes). With
 * registeredBefore only an active entry registered before it goes (APNs 410). Returns 1 when an active entry went.
 */
export const USER_REMOVE = `${ENTRIES}
local key, user, sy, tok, before, seen = KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local list = parse(redis.call('HGET', key, user))
local i = find(list, '=', sy, tok)
-- A prune carries the registration time the send saw: an entry registered again since then stays.
if seen and seen ~= '' and (not i or tonumber(list[i][4], 36) > tonumber(seen, 36)) then return 0 end
if before ~= '' then
  if not i or tonumber(list[i][4], 36) >= tonumber(before, 36) then return 0 end
  table.remove(list, i)
  save(key, user, list)
  return 1
end
local removed = 0
if i then table.remove(list, i); removed = 1 end
i = find(list, '+', sy, tok)
if i then table.remove(list, i) end
save(key, user, list)
return removed
`;

/**
 * After a user's entry is gone: if the record is still at the version read before the removal, the owner
 * releases the token (record deleted, or kept ownerless while dirty users remain) and a dirty user leaves
 * the dirty list. ARGV: field, user, version. Returns 1 when the record changed.
 */
export const INDEX_RELEASE = `${RECORD}
local key, field, user, cv = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
local v, owner, dirty = load(key, field)
if v == 0 or v ~= cv then return 0 end
if owner == user then owner = '' else dirty = without(dirty, user) end
write(key, field, v, owner, dirty)
return 1
`;

/** Several users' entry lists in one command (standalone: KEYS may be in any slot). ARGV = user ids. */
export const READ_USERS = `
local out = {}
for i = 1, #KEYS do out[i] = redis.call('HGET', KEYS[i], ARGV[i]) or '' end
return out
`;
