"""Network clients shared by storage backends and catalogue clients (which never import each
other): the requests-based web client of the catalogues and IDS."""
