// A small load generator for `cnn serve` (java bench/ServeLoad.java ...; Java's single-file launcher, no build):
// CLIENTS threads each send images one request at a time for SECONDS, cycling through the files given; files whose
// name starts with "bad" are expected to get a 4xx, every other one a 200. Prints one JSON line: requests, images/s,
// latency percentiles (ms), unexpected answers.
//   java bench/ServeLoad.java URL CLIENTS SECONDS FILE...
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

public class ServeLoad {
    public static void main(String[] args) throws Exception {
        URI url = URI.create(args[0]);
        int clients = Integer.parseInt(args[1]);
        double seconds = Double.parseDouble(args[2]);
        List<byte[]> bodies = new ArrayList<>();
        List<Boolean> bad = new ArrayList<>();
        for (int i = 3; i < args.length; i++) {
            Path p = Path.of(args[i]);
            bodies.add(Files.readAllBytes(p));
            bad.add(p.getFileName().toString().startsWith("bad"));
        }
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        AtomicLong good = new AtomicLong(), rejected = new AtomicLong(), unexpected = new AtomicLong();
        List<long[]> latencies = new ArrayList<>();
        long end = System.nanoTime() + (long) (seconds * 1e9);
        long t0 = System.nanoTime();
        List<Thread> threads = new ArrayList<>();
        for (int c = 0; c < clients; c++) {
            int offset = c;
            long[] lat = new long[1 << 20];
            latencies.add(lat);
            Thread t = new Thread(() -> {
                int n = 0;
                for (int i = offset; System.nanoTime() < end; i++) {
                    int k = i % bodies.size();
                    long s = System.nanoTime();
                    try {
                        HttpResponse<String> r = http.send(HttpRequest.newBuilder(url)
                                .header("Content-Type", "image/png")
                                .POST(HttpRequest.BodyPublishers.ofByteArray(bodies.get(k))).build(),
                                HttpResponse.BodyHandlers.ofString());
                        boolean ok = r.statusCode() == 200;
                        boolean client4xx = r.statusCode() >= 400 && r.statusCode() < 500;
                        if (bad.get(k) ? client4xx : ok) {
                            (ok ? good : rejected).incrementAndGet();
                        } else {
                            unexpected.incrementAndGet();
                            System.err.println("unexpected " + r.statusCode() + " for " + args[3 + k] + ": " + r.body());
                        }
                    } catch (Exception e) {
                        unexpected.incrementAndGet();
                        System.err.println("failed: " + e);
                    }
                    if (n < lat.length - 1) {
                        lat[++n] = System.nanoTime() - s;
                    }
                    lat[0] = n;
                }
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        double wall = (System.nanoTime() - t0) / 1e9;
        long[] all = latencies.stream().flatMapToLong(l -> Arrays.stream(l, 1, (int) l[0] + 1)).sorted().toArray();
        System.out.printf("{\"clients\": %d, \"seconds\": %.1f, \"requests\": %d, \"classified\": %d, \"rejected\": %d, "
                        + "\"unexpected\": %d, \"imagesPerSecond\": %.1f, \"p50ms\": %.2f, \"p99ms\": %.2f}%n",
                clients, wall, all.length, good.get(), rejected.get(), unexpected.get(), good.get() / wall,
                pct(all, 0.50), pct(all, 0.99));
    }

    static double pct(long[] sorted, double q) {
        return sorted.length == 0 ? Double.NaN : sorted[Math.min(sorted.length - 1, (int) (q * sorted.length))] / 1e6;
    }
}
