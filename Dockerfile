# cnn in a container: Debian slim, a Java 17 runtime and the distribution tarball (bin/cnn, lib/*.jar).
#   ./mvnw -B package -DskipTests          # writes cli/target/cnn-VERSION-linux-x86_64.tar.gz
#   docker build -t cnn .
#   docker run --rm -v "$PWD:/data" cnn classify --model model.zip photo.jpg
#   docker run --rm -p 8080:8080 -v "$PWD:/data" cnn serve --model model.zip --host 0.0.0.0
# The entry command is the tarball's bin/cnn, which the build's DistributionIT runs unpacked through a symlink.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*
ARG VERSION=0.1.0-SNAPSHOT
# a local tar.gz is unpacked by ADD
ADD cli/target/cnn-${VERSION}-linux-x86_64.tar.gz /opt/
RUN ln -s /opt/cnn-${VERSION}/bin/cnn /usr/local/bin/cnn && useradd --create-home cnn
USER cnn
WORKDIR /data
EXPOSE 8080
ENTRYPOINT ["cnn"]
CMD ["--help"]
