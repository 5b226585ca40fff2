# orbit-bench plot: memory-over-time. Redraw with `gnuplot memory-over-time.gp` in this directory;
# the data are the datablocks below (from the results files named in the title).
$d0 << EOD
0 0.007813
0.112 2.070313
0.229 3.707031
0.347 5.375
0.461 6.9375
0.565 7.628906
0.666 8.539063
0.776 9.804688
0.898 11.476563
1.02 12.617188
1.152 13.816406
1.268 15.347656
1.385 17.070313
1.507 18.765625
1.609 19.710938
EOD
$d1 << EOD
0 58.059044
0.112 62.52108
0.229 64.590996
0.347 66.352959
0.461 68.078255
0.565 69.242241
0.666 73.032295
0.776 74.27877
0.898 75.956673
1.02 77.399254
1.152 79.507393
1.268 80.361641
1.385 82.187477
1.507 83.904427
1.609 83.904427
EOD
$d2 << EOD
0 1
0.144 3
0.273 4
0.391 5
0.5 7
0.604 9
0.724 11
0.84 13
0.956 15
1.085 17
1.211 18
1.368 20
1.496 21
1.622 23
1.67 23
EOD
$d3 << EOD
0 26.960976
0.144 31.364342
0.273 32.748131
0.391 33.808067
0.5 35.827599
0.604 38.221184
0.724 43.03231
0.84 45.057533
0.956 47.142769
1.085 48.208687
1.211 50.291695
1.368 53.271767
1.496 53.406975
1.622 55.425133
1.67 55.425133
EOD
$d4 << EOD
0 0.002045
0.11 2.002045
0.221 4.002045
0.333 6.002045
0.443 7.002045
0.543 8.002045
0.644 9.002045
0.76 10.002045
0.881 11.002045
0.999 12.002045
1.119 13.002045
1.26 14.002045
1.381 15.002045
1.497 16.002045
1.614 17.002045
1.748 18.002045
1.87 19.002045
1.985 20.002045
2.097 20.002045
EOD
$d5 << EOD
0 85.506172
0.11 89.906631
0.221 92.299324
0.333 94.398415
0.443 95.36039
0.543 96.824394
0.644 100.635811
0.76 101.623695
0.881 102.663979
0.999 103.764809
1.119 104.824623
1.26 106.783958
1.381 106.82914
1.497 107.837685
1.614 108.833046
1.748 109.823418
1.87 110.972282
1.985 112.055534
2.097 112.055534
EOD
$d6 << EOD
0 0.001694
0.11 7.645287
0.22 11.603693
0.331 16.223473
0.45 20.776555
0.566 25.514647
0.598 26.520466
EOD
$d7 << EOD
0 120.555305
0.11 130.963646
0.22 138.83149
0.331 143.772942
0.45 148.78318
0.566 153.975807
0.598 153.975807
EOD
$d8 << EOD
0 0
0.111 0
0.216 0
0.329 0
0.438 0
0.539 0
0.648 0
0.763 0
0.878 0
0.994 0
1.109 0
1.233 0
1.348 0
1.464 0
1.58 0
1.647 0
EOD
$d9 << EOD
0 125.432289
0.111 127.869423
0.216 128.207146
0.329 128.236076
0.438 128.249779
0.539 128.710564
0.648 131.478889
0.763 131.48011
0.878 131.49305
0.994 131.523567
1.109 131.583382
1.233 132.590401
1.348 131.727715
1.464 131.728935
1.58 131.761925
1.647 131.761925
EOD
set encoding utf8
set termoption noenhanced
set title "Memory over time: the engine's own accounting (memtables, caches, indexes) and the process heap (jemalloc)\nrun 20261123-141245-latency-table · workload latency-table · each backend's median repeat of 3 · legend: backend (durability mode)"
set xlabel "time since the load phase started (s)" offset 0,0.4
set ylabel "memory (MiB)"
set grid xtics ytics lc rgb "#dddddd"
set key outside below center horizontal Left reverse maxcols 3 box lc rgb "#999999" width 2 spacing 1.2 height 1.5
set datafile missing "?"
set datafile separator whitespace
set yrange [0:*]
set terminal pngcairo size 1100,720 font "DejaVu Sans,10" noenhanced
set output "memory-over-time.png"
plot $d0 using 1:2 with linespoints lc rgb "#1f77b4" dt 1 pt 1 lw 1.5 ps 0.5 title "cow (none) engine memory", \
     $d1 using 1:2 with linespoints lc rgb "#1f77b4" dt 2 pt 2 lw 1.5 ps 0.5 title "cow (none) process heap", \
     $d2 using 1:2 with linespoints lc rgb "#2ca02c" dt 1 pt 1 lw 1.5 ps 0.5 title "lsm (none) engine memory", \
     $d3 using 1:2 with linespoints lc rgb "#2ca02c" dt 2 pt 2 lw 1.5 ps 0.5 title "lsm (none) process heap", \
     $d4 using 1:2 with linespoints lc rgb "#d62728" dt 1 pt 1 lw 1.5 ps 0.5 title "rocksdb (none) engine memory", \
     $d5 using 1:2 with linespoints lc rgb "#d62728" dt 2 pt 2 lw 1.5 ps 0.5 title "rocksdb (none) process heap", \
     $d6 using 1:2 with linespoints lc rgb "#7f7f7f" dt 1 pt 1 lw 1.5 ps 0.5 title "memory (none) engine memory", \
     $d7 using 1:2 with linespoints lc rgb "#7f7f7f" dt 2 pt 2 lw 1.5 ps 0.5 title "memory (none) process heap", \
     $d8 using 1:2 with linespoints lc rgb "#9467bd" dt 1 pt 1 lw 1.5 ps 0.5 title "lmdb (none) engine memory", \
     $d9 using 1:2 with linespoints lc rgb "#9467bd" dt 2 pt 2 lw 1.5 ps 0.5 title "lmdb (none) process heap"
set terminal svg size 1100,720 font "DejaVu Sans,10" noenhanced background rgb "white"
set output "memory-over-time.svg"
replot
unset output
