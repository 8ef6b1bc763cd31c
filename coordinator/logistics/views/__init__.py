"""Logistics routes, one module per resource; thin: parse, check who may act, call a flow,
commit. `router` includes them all (each is under `/api` itself: the route × role test
reads every route's own path).

- `places`: the catalogue, warehouses, stations, their stock, movements, targets, managers.
- `shipments`: shipments listed and dispatched, receipts and their correction.
- `stock`: hand-outs at a station, adjustments and write-offs.
- `discrepancies`: discrepancies and their acknowledgement, the fund.
- `plans`: supply plans, travellers forecasts.
- `exports`: CSV and XLSX downloads."""

from fastapi import APIRouter

from coordinator.logistics.views import discrepancies, exports, places, plans, shipments, stock

router = APIRouter()
for _module in (places, shipments, stock, discrepancies, plans, exports):
    router.include_router(_module.router)
