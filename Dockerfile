# One image for every Nuanliu part; docker-compose.yml chooses the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY coordinator ./coordinator
COPY events ./events
COPY consumers ./consumers
COPY nuanliu ./nuanliu
RUN pip install --no-cache-dir .
ENV NUANLIU_HOST=0.0.0.0
EXPOSE 8000
CMD ["nuanliu", "api"]
