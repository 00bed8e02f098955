FROM ultra-test/busybox:1
RUN mkdir -p /www && echo '<!doctype html><title>ultra frontend stand-in</title><p>ultra frontend stand-in</p>' >/www/index.html
EXPOSE 3009
CMD ["httpd", "-f", "-p", "3009", "-h", "/www"]
