# orbit-bench plot: memory-over-time. Redraw with `gnuplot memory-over-time.gp` in this directory;
# the data are the datablocks below (from the results files named in the title).
$d0 << EOD
0 0.007813
0.315 0.414063
0.671 1.09375
1.056 1.929688
1.311 2.367188
1.69 2.96875
2.034 3.246094
2.284 3.6875
2.554 3.859375
2.856 4.101563
3.303 4.320313
3.583 4.433594
3.996 4.882813
4.318 5.070313
4.608 5.292969
4.901 5.417969
EOD
$d1 << EOD
0 37.666374
0.315 40.660637
0.671 41.290474
1.056 42.198021
1.311 42.690117
1.69 43.348381
2.034 47.06086
2.284 47.364861
2.554 47.593575
2.856 47.863518
3.303 48.104515
3.583 48.592705
3.996 48.74427
4.318 49.327202
4.608 49.583427
4.901 49.736809
EOD
$d2 << EOD
0 1
0.327 2
0.665 3
0.961 4
1.313 4
1.621 5
2.069 5
2.341 5
2.611 5
2.929 6
3.153 6
EOD
$d3 << EOD
0 40.165749
0.327 43.845055
0.665 44.985924
0.961 46.017174
1.313 49.118324
1.621 50.523598
2.069 50.223457
2.341 50.559151
2.611 50.257576
2.929 51.244026
3.153 51.231087
EOD
$d4 << EOD
0 0.002045
0.332 1.002045
0.728 1.002045
1.004 1.002045
1.356 2.002045
1.728 2.002045
1.988 2.002045
2.328 2.002045
2.584 3.002045
2.937 3.002045
3.204 3.002045
3.56 4.002045
4.012 4.002045
4.265 4.002045
4.577 4.002045
5.052 4.002045
5.32 4.002045
5.616 4.002045
6.016 4.002045
6.344 4.002045
6.612 4.002045
6.922 4.002045
7.208 4.002045
7.514 5.002045
7.788 5.002045
8.047 5.002045
8.54 5.002045
8.844 5.002045
9.222 5.002045
9.54 5.002045
9.852 6.002045
10.104 6.002045
10.363 6.002045
10.76 6.002045
EOD
$d5 << EOD
0 47.356575
0.332 51.055916
0.728 51.13253
1.004 51.095779
1.356 52.087509
1.728 52.133545
1.988 52.114441
2.328 52.164864
2.584 53.204109
2.937 53.230247
3.204 53.250755
3.56 57.382469
4.012 57.639702
4.265 57.639702
4.577 57.625053
5.052 57.559227
5.32 57.564598
5.616 57.650627
6.016 57.702538
6.344 57.986168
6.612 57.947105
6.922 57.773552
7.208 57.706841
7.514 58.813896
7.788 58.802269
8.047 58.802269
8.54 58.917015
8.844 59.189171
9.222 59.149254
9.54 59.164268
9.852 60.15818
10.104 60.130257
10.363 60.234596
10.76 60.508812
EOD
$d6 << EOD
0 0.001694
0.338 2.225374
0.677 4.080826
0.969 5.014349
1.257 5.860151
1.573 6.582327
1.783 7.266047
EOD
$d7 << EOD
0 34.1269
0.338 39.082375
0.677 41.160255
0.969 45.219353
1.257 46.124016
1.573 47.279472
1.783 47.713737
EOD
$d8 << EOD
0 0
0.313 0
0.67 0
0.922 0
1.182 0
1.531 0
1.894 0
2.22 0
2.559 0
2.869 0
3.244 0
3.496 0
3.75 0
4.023 0
4.568 0
4.831 0
5.254 0
5.58 0
5.846 0
6.245 0
6.312 0
EOD
$d9 << EOD
0 53.891121
0.313 56.557213
0.67 56.527351
0.922 56.476768
1.182 56.454552
1.531 56.481102
1.894 56.502586
2.22 56.831154
2.559 59.872353
2.869 59.786888
3.244 59.758781
3.496 59.820488
3.75 59.822395
4.023 59.828255
4.568 59.959053
4.831 59.924599
5.254 59.973457
5.58 60.393929
5.846 60.099983
6.245 60.461311
6.312 60.461311
EOD
set encoding utf8
set termoption noenhanced
set title "Memory over time: the engine's own accounting (memtables, caches, indexes) and the process heap (jemalloc)\nrun 20261123-091240-latency-table · workload latency-table · each backend's median repeat of 3 · legend: backend (durability mode)"
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
