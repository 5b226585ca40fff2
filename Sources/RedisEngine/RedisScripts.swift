/// The engine's Lua scripts. Each runs atomically on the server, so the value hash, the key index
/// and the counters always agree (docs: README "Server backends", the cost of ordered scans).
///
/// KEYS[1] = `<prefix>:data` (hash key -> value), KEYS[2] = `<prefix>:index` (sorted set, every
/// member at score 0, so ZRANGEBYLEX orders members by memcmp), KEYS[3] = `<prefix>:meta` (hash:
/// `keys`, `key_bytes`, `value_bytes`: exact counts for stats).
enum RedisScripts {
    static let put = 0, delete = 1, scan = 2

    static let all = [
        // put(key, value)
        """
        local old = redis.call('HSTRLEN', KEYS[1], ARGV[1])
        if redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) == 1 then
          redis.call('ZADD', KEYS[2], 0, ARGV[1])
          redis.call('HINCRBY', KEYS[3], 'keys', 1)
          redis.call('HINCRBY', KEYS[3], 'key_bytes', #ARGV[1])
          redis.call('HINCRBY', KEYS[3], 'value_bytes', #ARGV[2])
        elseif #ARGV[2] ~= old then
          redis.call('HINCRBY', KEYS[3], 'value_bytes', #ARGV[2] - old)
        end
        return 1
        """,
        // delete(key)
        """
        local old = redis.call('HSTRLEN', KEYS[1], ARGV[1])
        if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
          redis.call('ZREM', KEYS[2], ARGV[1])
          redis.call('HINCRBY', KEYS[3], 'keys', -1)
          redis.call('HINCRBY', KEYS[3], 'key_bytes', 0 - #ARGV[1])
          redis.call('HINCRBY', KEYS[3], 'value_bytes', 0 - old)
        end
        return 1
        """,
        // scan(min, max, count): ZRANGEBYLEX bounds ("-", "+", "[k", "(k"); key, value, key, value, ...
        """
        local ks = redis.call('ZRANGEBYLEX', KEYS[2], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
        local out = {}
        for i, k in ipairs(ks) do
          out[2 * i - 1] = k
          out[2 * i] = redis.call('HGET', KEYS[1], k)
        end
        return out
        """,
    ]
}
