FROM ultra-test/busybox:1
RUN mkdir -p /www && echo '<!doctype html><title>ultra frontend stand-in</title><p>ultra frontend stand-in</p>' >/www/index.html
EXPOSE 3009
# busybox httpd installs no SIGTERM handler, which PID 1 would then ignore: stop it at once.
STOPSIGNAL SIGKILL
CMD ["httpd", "-f", "-p", "3009", "-h", "/www"]
