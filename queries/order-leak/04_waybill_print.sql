-- id: waybill-print
-- title_en: Prints of the order's waybill
-- title_zh: 该订单电子面单打印记录
-- question: Was the order's express waybill printed or reprinted during the window, by whom, on which terminal
--   and with which fields on the paper?
-- legal_element: Causation: the offline disclosure channel (the paper waybill travels with the parcel)
-- question_zh: 时间窗内，该订单的快递面单是否被打印或补打？由谁、在哪个终端打印，纸面上有哪些字段？
-- legal_element_zh: 因果关系：线下泄露渠道（纸质面单随包裹流转）
-- expect: some
-- severity: info
-- depends_on.roles: logistics_print
-- depends_on.actions: waybill.print, waybill.reprint
-- principals: any principal
SELECT
    ts,
    source,
    node,
    actor_id,
    merchant_id,
    action,
    action_raw,
    outcome,
    -- The terminal is not a canonical column; platforms record it under their own name.
    coalesce(
        json_extract_string(CASE WHEN json_valid(attrs) THEN attrs END, '$.terminal'),
        json_extract_string(CASE WHEN json_valid(attrs) THEN attrs END, '$."打印终端"'),
        json_extract_string(CASE WHEN json_valid(attrs) THEN attrs END, '$.print_terminal'),
        node
    ) AS terminal,
    fields,
    masked,
    record_count,
    attrs,
    src_sha256,
    line_no
FROM events
WHERE date BETWEEN CAST($padded_start AS DATE) AND CAST($padded_end AS DATE)
  AND ts >= $padded_start
  AND ts < $padded_end
  AND action IN ('waybill.print', 'waybill.reprint')
  AND list_contains(order_ids, $order_id)
ORDER BY ts, source, src_sha256, line_no
