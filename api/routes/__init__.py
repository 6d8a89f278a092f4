"""HTTP routes; each module is an APIRouter that only calls the domain layer."""
