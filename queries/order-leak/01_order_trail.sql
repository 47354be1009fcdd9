-- id: order-trail
-- title_en: Everything that touched the order
-- title_zh: 订单全部操作轨迹
-- question: Which recorded events, in any source and by any principal, name the order during the window
--   (padded by the measured clock skew), in time order?
-- legal_element: Causation: the order's data path (platform collection, merchant fulfilment, offline delivery)
-- expect: info
-- severity: info
-- depends_on.roles: back_office, open_api, logistics_print
-- depends_on.actions:
-- principals: any principal
SELECT
    ts,
    source,
    node,
    actor_id,
    actor_type,
    merchant_id,
    action,
    action_raw,
    outcome,
    masked,
    fields,
    ip,
    request_id,
    src_sha256,
    line_no
FROM events
-- The date predicate prunes hive partitions; the ts predicate is the exact window.
WHERE date BETWEEN CAST($padded_start AS DATE) AND CAST($padded_end AS DATE)
  AND ts >= $padded_start
  AND ts < $padded_end
  AND list_contains(order_ids, $order_id)
ORDER BY ts, source, src_sha256, line_no
