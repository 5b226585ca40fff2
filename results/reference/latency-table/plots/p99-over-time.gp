# orbit-bench plot: p99-over-time. Redraw with `gnuplot p99-over-time.gp` in this directory;
# the data are the datablocks below (from the results files named in the title).
$d0 << EOD
0.1 20.095
0.2 31.823
0.3 28.751
0.4 28.927
0.5 30.191
0.514 66.111
EOD
$d1 << EOD
0.7 26.911
0.8 32.415
0.9 27.055
1 36.095
1.1 44.383
1.2 43.679
1.3 25.471
1.4 26.591
1.5 25.999
1.577 28.447
EOD
$d2 << EOD
0.7 10.559
0.8 14.111
0.9 12.103
1 14.311
1.1 15.407
1.2 16.375
1.3 9.295
1.4 10.551
1.5 10.127
1.577 12.871
EOD
$d3 << EOD
0.7 2.443
0.8 2.725
0.9 2.635
1 3.495
1.1 3.345
1.2 3.445
1.3 2.475
1.4 2.485
1.5 2.675
1.577 2.905
EOD
$d4 << EOD
0.1 11.319
0.2 32.383
0.3 35.167
0.4 21.071
0.5 36.671
0.562 22.319
EOD
$d5 << EOD
0.7 8.871
0.8 11.559
0.9 10.199
1 13.327
1.1 13.431
1.2 13.055
1.3 13.695
1.4 36.927
1.5 34.431
1.6 32.959
1.624 46.719
EOD
$d6 << EOD
0.7 7.683
0.8 10.911
0.9 10.607
1 14.367
1.1 12.559
1.2 12.463
1.3 13.911
1.4 36.799
1.5 34.911
1.6 32.959
1.624 38.655
EOD
$d7 << EOD
0.7 4.647
0.8 6.179
0.9 6.299
1 7.683
1.1 7.583
1.2 8.223
1.3 7.911
1.4 9.815
1.5 9.047
1.6 8.423
1.624 13.487
EOD
$d8 << EOD
0.1 18.255
0.2 22.351
0.3 20.063
0.4 20.975
0.485 23.887
EOD
$d9 << EOD
0.7 20.543
0.8 20.063
0.9 35.583
1 47.519
1.1 67.327
1.2 74.431
1.3 42.367
1.4 39.199
1.5 35.583
1.6 38.431
1.7 47.679
1.8 45.023
1.9 32.063
2 33.855
2.053 14.247
EOD
$d10 << EOD
0.7 18.079
0.8 15.679
0.9 26.319
1 43.199
1.1 52.959
1.2 65.439
1.3 46.431
1.4 32.655
1.5 27.663
1.6 37.791
1.7 38.111
1.8 39.615
1.9 31.455
2 28.127
2.053 14.151
EOD
$d11 << EOD
0.7 8.647
0.8 8.075
0.9 8.703
1 10.591
1.1 22.031
1.2 33.567
1.3 8.639
1.4 9.527
1.5 7.123
1.6 7.735
1.7 10.071
1.8 9.239
1.9 7.451
2 7.875
2.053 7.511
EOD
$d12 << EOD
0.1 9.719
0.151 22.319
EOD
$d13 << EOD
0.2 5.291
0.3 28.223
0.4 30.671
0.5 32.671
0.591 32.367
EOD
$d14 << EOD
0.2 3.055
0.3 3.235
0.4 3.135
0.5 3.737
0.591 3.275
EOD
$d15 << EOD
0.2 2.513
0.3 2.545
0.4 2.515
0.5 2.845
0.591 2.595
EOD
$d16 << EOD
0.1 16.287
0.2 16.975
0.3 18.111
0.4 17.567
0.492 14.743
EOD
$d17 << EOD
0.6 14.895
0.7 13.831
0.8 14.295
0.9 18.943
1 15.055
1.1 13.847
1.2 14.071
1.3 14.015
1.4 28.575
1.5 18.623
1.6 18.223
1.613 12.479
EOD
$d18 << EOD
0.6 9.671
0.7 9.127
0.8 9.063
0.9 11.663
1 9.575
1.1 9.679
1.2 10.159
1.3 9.687
1.4 12.895
1.5 12.375
1.6 12.959
1.613 8.919
EOD
$d19 << EOD
0.6 2.173
0.7 2.153
0.8 2.463
0.9 2.955
1 2.385
1.1 2.313
1.2 2.805
1.3 2.915
1.4 3.857
1.5 3.465
1.6 3.475
1.613 2.193
EOD
set encoding utf8
set termoption noenhanced
set title "p99 latency over time (per interval)\nrun 20261123-141245-latency-table · workload latency-table · each backend's median repeat of 3 · legend: backend (durability mode)"
set xlabel "time since the load phase started (s)" offset 0,0.4
set ylabel "p99 latency (µs, log scale)"
set grid xtics ytics lc rgb "#dddddd"
set key outside below center horizontal Left reverse maxcols 3 box lc rgb "#999999" width 2 spacing 1.2 height 1.5
set datafile missing "?"
set datafile separator whitespace
set logscale y
set format y "%g"
set terminal pngcairo size 1100,720 font "DejaVu Sans,10" noenhanced
set output "p99-over-time.png"
plot $d0 using 1:2 with linespoints lc rgb "#1f77b4" dt 1 pt 1 lw 1.5 ps 0.6 title "cow (none) load", \
     $d1 using 1:2 with linespoints lc rgb "#1f77b4" dt 2 pt 2 lw 1.5 ps 0.6 title "cow (none) lease_store", \
     $d2 using 1:2 with linespoints lc rgb "#1f77b4" dt 3 pt 3 lw 1.5 ps 0.6 title "cow (none) lease_renew", \
     $d3 using 1:2 with linespoints lc rgb "#1f77b4" dt 4 pt 4 lw 1.5 ps 0.6 title "cow (none) lease_get", \
     $d4 using 1:2 with linespoints lc rgb "#2ca02c" dt 1 pt 1 lw 1.5 ps 0.6 title "lsm (none) load", \
     $d5 using 1:2 with linespoints lc rgb "#2ca02c" dt 2 pt 2 lw 1.5 ps 0.6 title "lsm (none) lease_store", \
     $d6 using 1:2 with linespoints lc rgb "#2ca02c" dt 3 pt 3 lw 1.5 ps 0.6 title "lsm (none) lease_renew", \
     $d7 using 1:2 with linespoints lc rgb "#2ca02c" dt 4 pt 4 lw 1.5 ps 0.6 title "lsm (none) lease_get", \
     $d8 using 1:2 with linespoints lc rgb "#d62728" dt 1 pt 1 lw 1.5 ps 0.6 title "rocksdb (none) load", \
     $d9 using 1:2 with linespoints lc rgb "#d62728" dt 2 pt 2 lw 1.5 ps 0.6 title "rocksdb (none) lease_store", \
     $d10 using 1:2 with linespoints lc rgb "#d62728" dt 3 pt 3 lw 1.5 ps 0.6 title "rocksdb (none) lease_renew", \
     $d11 using 1:2 with linespoints lc rgb "#d62728" dt 4 pt 4 lw 1.5 ps 0.6 title "rocksdb (none) lease_get", \
     $d12 using 1:2 with linespoints lc rgb "#7f7f7f" dt 1 pt 1 lw 1.5 ps 0.6 title "memory (none) load", \
     $d13 using 1:2 with linespoints lc rgb "#7f7f7f" dt 2 pt 2 lw 1.5 ps 0.6 title "memory (none) lease_store", \
     $d14 using 1:2 with linespoints lc rgb "#7f7f7f" dt 3 pt 3 lw 1.5 ps 0.6 title "memory (none) lease_renew", \
     $d15 using 1:2 with linespoints lc rgb "#7f7f7f" dt 4 pt 4 lw 1.5 ps 0.6 title "memory (none) lease_get", \
     $d16 using 1:2 with linespoints lc rgb "#9467bd" dt 1 pt 1 lw 1.5 ps 0.6 title "lmdb (none) load", \
     $d17 using 1:2 with linespoints lc rgb "#9467bd" dt 2 pt 2 lw 1.5 ps 0.6 title "lmdb (none) lease_store", \
     $d18 using 1:2 with linespoints lc rgb "#9467bd" dt 3 pt 3 lw 1.5 ps 0.6 title "lmdb (none) lease_renew", \
     $d19 using 1:2 with linespoints lc rgb "#9467bd" dt 4 pt 4 lw 1.5 ps 0.6 title "lmdb (none) lease_get"
set terminal svg size 1100,720 font "DejaVu Sans,10" noenhanced background rgb "white"
set output "p99-over-time.svg"
replot
unset output
