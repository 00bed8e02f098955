FROM ultra-test/debian:12
COPY backend_app/ /app/
ENV PYTHONPATH=/app PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
EXPOSE 8000
CMD ["python3", "-m", "ultra.backend"]
