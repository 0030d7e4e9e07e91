/**
 * Whether the bus's websocket is connected: the Centrapay terminal reads a
 * request's status often only while it is not. A service, so that it listens
 * before the POS's data service starts the bus and so hears its first state.
 */
import {WORKER_STATE} from "@bus/workers/websocket_worker";
import {reactive} from "@odoo/owl";
import {registry} from "@web/core/registry";

export const centrapayBusStateService = {
    dependencies: ["bus_service"],
    start(env, {bus_service}) {
        const state = reactive({connected: false});
        bus_service.addEventListener("worker_state_updated", ({detail}) => {
            state.connected = detail === WORKER_STATE.CONNECTED;
        });
        return state;
    },
};

registry.category("services").add("centrapay_bus_state", centrapayBusStateService);
