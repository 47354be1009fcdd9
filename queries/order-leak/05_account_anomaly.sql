-- id: account-anomaly
-- title_en: Unusual logins of the shop's accounts
-- title_zh: 店铺账号异常登录
-- question: Did any account or sub-account of the fulfilling shop log in during the window from an IP address or
--   device (user agent) it had not used in the history period before the window, or at unusual local hours?
-- legal_element: Fault: case-specific security measures against misuse by third parties (account takeover)
-- question_zh: 时间窗内，履约店铺的账号或子账号是否从其在时间窗之前的历史期间未使用过的 IP 地址或设备（客户端）登录，或在异常的本地时段登录？
-- legal_element_zh: 过错：针对第三人滥用的具体安全措施（账号被盗用）（《个人信息保护法》第六十九条）
-- expect: none
-- severity: medium
-- depends_on.roles: back_office
-- depends_on.actions: auth.login
-- principals: the accounts and sub-accounts of the fulfilling shop $merchant_id
WITH shop AS (
    SELECT *
    FROM events
    -- History reaches further back than the volume baseline: an IP used once last month is not new.
    WHERE date BETWEEN CAST($padded_start - to_days($history_days) AS DATE) AND CAST($padded_end AS DATE)
      AND ts >= $padded_start - to_days($history_days)
      AND ts < $padded_end
      AND merchant_id = $merchant_id
      AND actor_id IS NOT NULL
      AND coalesce(actor_type, 'account') IN ('account', 'sub_account', 'staff', 'unknown')
),
history AS (
    -- What each account used before the window, from any of its events (not only logins).
    SELECT
        actor_id,
        list(DISTINCT ip) FILTER (WHERE ip IS NOT NULL) AS known_ips,
        list(DISTINCT user_agent) FILTER (WHERE user_agent IS NOT NULL) AS known_agents,
        count(*) AS history_events
    FROM shop
    WHERE ts < $padded_start
    GROUP BY actor_id
),
logins AS (
    SELECT
        s.*,
        h.history_events,
        extract('hour' FROM timezone($tz, s.ts)) AS local_hour,
        -- An account with no history before the window cannot be judged for novelty, only for hours.
        h.history_events IS NOT NULL AND s.ip IS NOT NULL AND NOT list_contains(h.known_ips, s.ip) AS new_ip,
        h.history_events IS NOT NULL AND s.user_agent IS NOT NULL
            AND NOT list_contains(h.known_agents, s.user_agent) AS new_device
    FROM shop AS s
    LEFT JOIN history AS h USING (actor_id)
    WHERE s.ts >= $padded_start
      AND s.action = 'auth.login'
      AND s.outcome = 'success'
),
judged AS (
    SELECT
        *,
        -- The night range may wrap midnight (e.g. 22 -> 6).
        CASE
            WHEN $night_start_hour <= $night_end_hour
                THEN local_hour >= $night_start_hour AND local_hour < $night_end_hour
            ELSE local_hour >= $night_start_hour OR local_hour < $night_end_hour
        END AS unusual_hour
    FROM logins
)
SELECT
    ts,
    source,
    node,
    actor_id,
    actor_type,
    merchant_id,
    ip,
    user_agent,
    local_hour,
    concat_ws(', ',
        CASE WHEN new_ip THEN 'new IP' END,
        CASE WHEN new_device THEN 'new device' END,
        CASE WHEN unusual_hour THEN 'unusual hour' END
    ) AS anomaly,
    src_sha256,
    line_no
FROM judged
WHERE new_ip OR new_device OR unusual_hour
ORDER BY ts, source, src_sha256, line_no
