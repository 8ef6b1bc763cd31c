"""Every way logistics says no: one type per failure, each with its HTTP status and code
(see `coordinator.errors`). The ledger's refusals (`ledger.LedgerError`, `InsufficientStock`)
and the calendar's (`planning.CalendarError`) are defined beside the code that raises them.

`LogisticsError` is the base a caller catches for "logistics refused this" (the provision
consumer skips a plan or a resupply it cannot make). It is still a `ValueError`, as it always
was."""

from __future__ import annotations

from coordinator.errors import DomainError


class LogisticsError(DomainError, ValueError):
    """A request logistics refuses (422 unless the type says otherwise)."""

    code = "logistics_refused"


# -- nothing there (404) ----------------------------------------------------------------------
class PlaceNotFound(LogisticsError):
    """No station, warehouse or place with that id (or not of the kind asked for)."""

    status = 404
    code = "place_not_found"


class NoWarehouse(LogisticsError):
    """There is no warehouse to ship from."""

    status = 404
    code = "no_warehouse"


class ShipmentNotFound(LogisticsError):
    status = 404
    code = "shipment_not_found"


class DiscrepancyNotFound(LogisticsError):
    status = 404
    code = "discrepancy_not_found"


class PlanNotFound(LogisticsError):
    status = 404
    code = "plan_not_found"


class DistributionNotFound(LogisticsError):
    """No hand-out with that id at that station."""

    status = 404
    code = "distribution_not_found"


class ExportNotFound(LogisticsError):
    """No export or no file format of that name."""

    status = 404
    code = "export_not_found"


# -- not now (409) ----------------------------------------------------------------------------
class ShipmentAlreadyReceived(LogisticsError):
    """A second receipt of one shipment (the first one stands)."""

    status = 409
    code = "shipment_already_received"


class ShipmentNotReceived(LogisticsError):
    """A correction of a receipt that was never booked."""

    status = 409
    code = "shipment_not_received"


class ReceiptAlreadyCorrected(LogisticsError):
    """A manager corrects a receipt once; after that a dispatcher adjusts."""

    status = 409
    code = "receipt_already_corrected"


class CorrectionWindowClosed(LogisticsError):
    """The receipt is older than the correction window; a dispatcher adjusts."""

    status = 409
    code = "correction_window_closed"


class HandOutAlreadyUndone(LogisticsError):
    """A hand-out taken back a second time."""

    status = 409
    code = "handout_already_undone"


class UndoWindowClosed(LogisticsError):
    """The hand-out is older than the undo window; a dispatcher adjusts."""

    status = 409
    code = "undo_window_closed"


class PlanNotProposed(LogisticsError):
    """The plan was approved already."""

    status = 409
    code = "plan_not_proposed"


# -- not like that (422) ----------------------------------------------------------------------
class UnknownItem(LogisticsError):
    """No item with that SKU (or id)."""

    code = "unknown_item"


class WrongUnit(LogisticsError):
    """A line counted in a unit the item is not counted in."""

    code = "wrong_unit"


class InvalidQuantity(LogisticsError):
    """A quantity that is not a whole number, not positive, or above the limit."""

    code = "invalid_quantity"


class InvalidShipment(LogisticsError):
    """A shipment to its own origin, without lines, or naming an item twice."""

    code = "invalid_shipment"


class InvalidReceipt(LogisticsError):
    """A count for an item not on the shipment, a line without a count, a count twice."""

    code = "invalid_receipt"


class InvalidDistribution(LogisticsError):
    """A ticket without destination or cost, or goods with them."""

    code = "invalid_distribution"


class InvalidAdjustment(LogisticsError):
    """An adjustment of an unknown kind or without a reason."""

    code = "invalid_adjustment"


class InvalidTarget(LogisticsError):
    """A reorder point above the target."""

    code = "invalid_target"


class InvalidPlan(LogisticsError):
    """A plan without stations, with no station among them, or with days of cover out of range."""

    code = "invalid_plan"


class InvalidDate(LogisticsError):
    """A date that is not one (2026-02-31)."""

    code = "invalid_date"


class InvalidManagerPhones(LogisticsError):
    """A manager phone that is not a mobile number, or too many of them."""

    code = "invalid_manager_phones"


class NoOpenFund(LogisticsError):
    """No campaign fund is open to charge."""

    code = "no_open_fund"


class FundExhausted(LogisticsError):
    """A charge would overdraw the campaign fund."""

    code = "fund_exhausted"


class InvalidForecastFile(LogisticsError):
    """A forecast upload without its file, or not UTF-8 text (row errors: `ForecastError`)."""

    code = "invalid_forecast_file"


class ForecastTooLarge(LogisticsError):
    status = 413
    code = "forecast_too_large"


class ForecastError(LogisticsError):
    """A forecast upload with bad rows; `errors` lists every one, and the answer's `detail` is
    `{"message", "errors"}` (the first hundred)."""

    code = "invalid_forecast"

    def __init__(self, errors: list[dict[str, object]]) -> None:
        self.errors = errors
        first = errors[0]
        message = f"row {first['row']}: {first['error']}" + (
            f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        )
        super().__init__(message, detail={"message": message, "errors": errors[:100]})
