/**
 * What the server needs to send an order's line items to Centrapay: each
 * line's raw prices, and the order's total, other tenders and cash rounding.
 * The mapping itself is centrapay/line_items.py.
 */

/** Each order line: what it costs with and without tax, before its discount
 * (its rate in %). */
export function centrapayLineItems(order) {
    return order.lines.map((orderLine) => {
        const prices = orderLine.get_all_prices();
        return {
            name: orderLine.get_full_product_name(),
            qty: orderLine.get_quantity(),
            price: prices.priceWithTax,
            untaxed: prices.priceWithoutTax,
            untaxed_before_discount: prices.priceWithoutTaxBeforeDiscount,
            discount: orderLine.get_discount(),
            sku: orderLine.product_id.default_code || undefined,
        };
    });
}

/** The order's total, what its other payment lines pay, this tender's rounding. */
export function centrapayBasket(order, line) {
    const total = order.get_total_with_tax();
    const otherPayments = order.payment_ids
        .filter((payment) => payment.uuid !== line.uuid && !payment.is_change)
        .reduce((sum, payment) => sum + payment.get_amount(), 0);
    const rest = total - otherPayments;
    const rounding = order.shouldRound(line.payment_method_id)
        ? order.getRoundedRemaining(order.config.rounding_method, rest) - rest
        : 0;
    return {total, other_payments: otherPayments, rounding};
}
