// Lua keeps every multi-key change atomic: no interleaving of two users racing on one token can leave
// the token with two owners or none. KEYS[1] = the caller's user hash, KEYS[2] = the owners hash.

/** ARGV: userId, field, value, cap, userPrefix, systemTag. Returns {movedFromOtherUser 0|1, evictedField|''}. */
export const ADD_ENTRY = `
local userKey, owners = KEYS[1], KEYS[2]
local userId, field, value, cap, userPrefix, tag = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local moved = 0
local prev = redis.call('HGET', owners, field)
if prev and prev ~= userId then
  redis.call('HDEL', userPrefix .. prev, field)
  moved = 1
end
redis.call('HSET', owners, field, userId)
redis.call('HSET', userKey, field, value)
local evicted = ''
local all = redis.call('HGETALL', userKey)
local count, oldestField, oldestAt = 0, nil, nil
for i = 1, #all, 2 do
  local f = all[i]
  if string.sub(f, 1, 2) == tag .. ':' then
    count = count + 1
    if f ~= field then
      local at = tonumber(string.match(all[i + 1], '^(%d+)'))
      if oldestAt == nil or at < oldestAt then oldestAt, oldestField = at, f end
    end
  end
end
if count > cap and oldestField then
  redis.call('HDEL', userKey, oldestField)
  if redis.call('HGET', owners, oldestField) == userId then redis.call('HDEL', owners, oldestField) end
  evicted = oldestField
end
return {moved, evicted}
`;

/**
 * Every given user's entries in one command: KEYS = user hashes; one flat HGETALL reply per key. A
 * delivery job reads all of its events' owners at once, and one command per job costs the worker far less
 * than one per owner (each ioredis command is an object, a promise and a reply to route).
 */
export const READ_ENTRIES = `
local out = {}
for i = 1, #KEYS do out[i] = redis.call('HGETALL', KEYS[i]) end
return out
`;

/**
 * Removes the caller's entry; never touches another user's. ARGV: userId, field, registeredBeforeMs or ''.
 * With registeredBeforeMs the entry is removed only when it was registered before that time (APNs 410
 * Unregistered: a token re-registered after Apple's timestamp is valid again). Returns 1 when removed.
 */
export const REMOVE_ENTRY = `
local userKey, owners = KEYS[1], KEYS[2]
local userId, field, before = ARGV[1], ARGV[2], ARGV[3]
local value = redis.call('HGET', userKey, field)
if not value then return 0 end
if before ~= '' then
  local at = tonumber(string.match(value, '^(%d+)'))
  if at >= tonumber(before) then return 0 end
end
redis.call('HDEL', userKey, field)
if redis.call('HGET', owners, field) == userId then redis.call('HDEL', owners, field) end
return 1
`;

/**
 * Replaces the caller's entry oldField by newField keeping its value (GCM canonical id). If newField is
 * already registered (by anyone) the old entry is only dropped. ARGV: userId, oldField, newField.
 * Returns 1 replaced, 2 old dropped (canonical already registered), 0 nothing to do.
 */
export const REPLACE_ENTRY = `
local userKey, owners = KEYS[1], KEYS[2]
local userId, oldField, newField = ARGV[1], ARGV[2], ARGV[3]
local value = redis.call('HGET', userKey, oldField)
if not value then return 0 end
redis.call('HDEL', userKey, oldField)
if redis.call('HGET', owners, oldField) == userId then redis.call('HDEL', owners, oldField) end
if redis.call('HEXISTS', owners, newField) == 1 then return 2 end
redis.call('HSET', userKey, newField, value)
redis.call('HSET', owners, newField, userId)
return 1
`;
