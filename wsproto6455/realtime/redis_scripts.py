"""Lua scripts run by RedisBroker: each one is atomic on the room's node.

All keys of one room share a hash tag (see ``redis_codec.room_keys``), so each
script touches one slot and runs unchanged on Redis Cluster.
"""

from __future__ import annotations

#: Publish with history. KEYS: stream, meta. ARGV: channel, envelope (``t...``
#: or ``b...``), stream max length, history ttl (ms), publish command
#: (PUBLISH or SPUBLISH). The offset is incremented, the message appended to a
#: capped stream under the id ``<offset>-1`` and published with its offset and
#: epoch, all in one step: no other publication can slip between the three.
#: The epoch is born with the room's metadata; when Redis loses the data (a
#: restart without persistence, the ttl) a new epoch tells resuming clients
#: that their offsets no longer mean anything.
PUBLISH_WITH_HISTORY = """
local epoch = redis.call('hget', KEYS[2], 'epoch')
if not epoch then
    local now = redis.call('time')
    epoch = now[1] .. string.format('%06d', tonumber(now[2]))
    redis.call('hset', KEYS[2], 'epoch', epoch)
end
local offset = redis.call('hincrby', KEYS[2], 'offset', 1)
redis.call('xadd', KEYS[1], 'MAXLEN', '~', ARGV[3], offset .. '-1', 'd', ARGV[2])
redis.call('pexpire', KEYS[1], ARGV[4])
redis.call('pexpire', KEYS[2], ARGV[4])
redis.call(ARGV[5], ARGV[1], 'h' .. offset .. ':' .. epoch .. ':' .. ARGV[2])
return offset
"""

#: History read. KEYS: stream, meta. ARGV: first offset wanted, count.
#: Returns {epoch or false, top offset, {offset, envelope, ...}}.
HISTORY = """
local epoch = redis.call('hget', KEYS[2], 'epoch')
local top = tonumber(redis.call('hget', KEYS[2], 'offset') or '0')
local entries = redis.call('xrange', KEYS[1], ARGV[1] .. '-0', '+', 'COUNT', ARGV[2])
local flat = {}
for _, entry in ipairs(entries) do
    local id = entry[1]
    flat[#flat + 1] = string.sub(id, 1, string.find(id, '-') - 1)
    flat[#flat + 1] = entry[2][2]
end
return {epoch or false, top, flat}
"""

#: Presence refresh. KEYS: sorted set (member -> expiry in ms, Redis clock),
#: hash (member -> info). ARGV: ttl (ms), then member, info pairs. Redis'
#: clock is the only clock, so servers with skewed clocks agree on expiry.
PRESENCE_REFRESH = """
local now = redis.call('time')
local expires = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
    redis.call('zadd', KEYS[1], expires, ARGV[i])
    redis.call('hset', KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call('pexpire', KEYS[1], ARGV[1])
redis.call('pexpire', KEYS[2], ARGV[1])
return #ARGV / 2
"""

#: Presence removal. KEYS: sorted set, hash. ARGV: members.
PRESENCE_REMOVE = """
for i = 1, #ARGV do
    redis.call('zrem', KEYS[1], ARGV[i])
    redis.call('hdel', KEYS[2], ARGV[i])
end
return #ARGV
"""

#: Presence read: drops the expired members, returns {member, info, ...}.
PRESENCE_READ = """
local now = redis.call('time')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local expired = redis.call('zrangebyscore', KEYS[1], '-inf', ms)
if #expired > 0 then
    redis.call('zremrangebyscore', KEYS[1], '-inf', ms)
    redis.call('hdel', KEYS[2], unpack(expired))
end
local members = redis.call('zrange', KEYS[1], 0, -1)
local flat = {}
if #members > 0 then
    local infos = redis.call('hmget', KEYS[2], unpack(members))
    for i, member in ipairs(members) do
        flat[#flat + 1] = member
        flat[#flat + 1] = infos[i] or ''
    end
end
return flat
"""
