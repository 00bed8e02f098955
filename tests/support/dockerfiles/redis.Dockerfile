FROM ultra-test/debian:12
RUN mkdir -p /data
WORKDIR /data
VOLUME /data
EXPOSE 6379
CMD ["redis-server", "--dir", "/data"]
