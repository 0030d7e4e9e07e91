/**
 * The reconciliation list: group totals carry their currency, as the items do
 * (core's list shows group sums of monetary fields as bare numbers).
 */
import {ListRenderer} from "@web/views/list/list_renderer";
import {formatMonetary} from "@web/views/fields/formatters";
import {listView} from "@web/views/list/list_view";
import {onWillStart, onWillUpdateProps} from "@odoo/owl";
import {registry} from "@web/core/registry";
import {useService} from "@web/core/utils/hooks";

export class CentrapayReconciliationListRenderer extends ListRenderer {
    setup() {
        super.setup();
        this.orm = useService("orm");
        this.centrapayCurrencyId = false;
        onWillStart(() => this.centrapayLoadCurrency(this.props));
        onWillUpdateProps((next) => this.centrapayLoadCurrency(next));
    }

    /** The items' one currency; none (bare numbers) when they have several. */
    async centrapayLoadCurrency(props) {
        const groups = await this.orm.readGroup(
            props.list.resModel,
            props.list.domain,
            ["currency_id"],
            ["currency_id"]
        );
        const ids = groups.map((group) => group.currency_id?.[0]).filter(Boolean);
        this.centrapayCurrencyId = ids.length === 1 ? ids[0] : false;
    }

    formatAggregateValue(group, column) {
        const field = this.props.list.fields[column.name];
        if (
            field?.type !== "monetary" ||
            !this.centrapayCurrencyId ||
            !(column.name in group.aggregates)
        ) {
            return super.formatAggregateValue(...arguments);
        }
        return formatMonetary(group.aggregates[column.name], {
            currencyId: this.centrapayCurrencyId,
        });
    }
}

registry.category("views").add("centrapay_reconciliation_list", {
    ...listView,
    Renderer: CentrapayReconciliationListRenderer,
});
