-- id: order-trail
-- title_en: Everything that touched the order
-- title_zh: 订单全部操作轨迹
-- question: Which recorded events, in any source and by any principal, name the order during the window
--   (padded by the measured clock skew), in time order?
-- legal_element: Causation: the order's data path (platform collection, merchant fulfilment, offline delivery)
-- question_zh: 在事件时间窗（已按实测时钟偏差扩展）内，任何来源、任何主体记录的涉及该订单的事件有哪些？按时间排序列出。
-- legal_element_zh: 因果关系：该订单数据的流转路径（平台收集、商家履约、线下配送）
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
