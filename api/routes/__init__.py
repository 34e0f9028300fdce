"""FastAPI routers: public, admin, analytics and exports."""
