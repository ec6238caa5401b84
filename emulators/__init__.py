"""Sans-IO device models (ESME, GSME, GPF, CHF, PPMID, HCALCS, SMETS1), fault plans, fleets."""
