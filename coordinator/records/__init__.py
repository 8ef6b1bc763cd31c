"""Service records and certificates (issue 15, item 5): what a volunteer served, as the
regulation asks it recorded (《志愿服务记录与证明出具办法（试行）》: who, what service, where,
when, the hours actually served, the organisation), the 志愿服务证明 as a PDF with a serial
and a QR code to the public `/verify/{serial}` page, a batch of them as a zip, and the
records as CSV/XLSX for re-entry into the national volunteer information system.

The domain keeps one table, `certificates` (what was issued, so a serial can be confirmed);
the hours themselves come from dispatch's ledger through `dispatch.service.served_shifts`."""
