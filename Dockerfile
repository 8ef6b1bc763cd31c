# One image for every Nuanliu part; docker-compose.yml chooses the command.
FROM python:3.11-slim
WORKDIR /app
# the CJK font the reports' PDFs and charts embed (NUANLIU_REPORT_FONT's default path)
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY coordinator ./coordinator
COPY events ./events
COPY consumers ./consumers
COPY nuanliu ./nuanliu
RUN pip install --no-cache-dir .
ENV NUANLIU_HOST=0.0.0.0
EXPOSE 8000
CMD ["nuanliu", "api"]
